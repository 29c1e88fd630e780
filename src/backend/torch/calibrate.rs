//! `mmbench calibrate --backend torch`: the microbenchmark suite of [`crate::calibrate::suite`] timed in
//! PyTorch by the Python runner (`python/mmbench_torch/bench.py`), with eager PyTorch's host costs, copies and
//! streams, as [`Measurements`] that the one fit ([`crate::calibrate::derive`]) turns into a description
//! whose `eager` runtime carries the fitted overheads.

use super::export::export;
use super::runner::{preflight, python, PythonRunner};
use crate::calibrate::derive::{EagerProbes, HostSample, Measurements, Sample};
use crate::calibrate::suite::{host_work_grid, Microbench};
use crate::calibrate::Skipped;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where and how the suite runs.
#[derive(Debug, Clone)]
pub struct TorchCalibrateOptions {
    pub device: String,
    pub math: String,
    /// Passes over the suite; each microbenchmark keeps its fastest iteration.
    pub passes: usize,
    /// Timed iterations of each microbenchmark per pass.
    pub iters: usize,
    pub threads: Option<usize>,
}

/// What the Python side writes (schema `mmbench.torch-calibration`).
#[derive(Debug, Deserialize)]
struct Raw {
    schema: String,
    environment: serde_json::Value,
    samples: Vec<RawSample>,
    skipped: Vec<Skipped>,
    chain: Chain,
    copies: Vec<(u64, f64)>,
    streams: Option<Streams>,
    host: Vec<HostSample>,
}

#[derive(Debug, Deserialize)]
struct RawSample {
    label: String,
    time_s: f64,
    kernels: u32,
    /// Host time of the op's call (median), seconds.
    host_s: f64,
    /// Host time of the op's call issued bare (no profiler, no wait), seconds; absent in older files.
    #[serde(default)]
    issue_s: Option<f64>,
    /// Host time of the op's call issued among the other calls of its chunk, seconds; absent in older files.
    #[serde(default)]
    among_s: Option<f64>,
    /// Device busy time of the call (its kernels' durations summed), seconds; absent in older files.
    #[serde(default)]
    busy_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Chain {
    op_call_s: f64,
    view_call_s: f64,
    launch_s: f64,
    tiny_kernel_s: f64,
    sync_s: f64,
}

#[derive(Debug, Deserialize)]
struct Streams {
    one_stream_s: f64,
    two_streams_s: f64,
}

/// Runs the suite and the probes in PyTorch; `progress` is told each step as it starts.
pub fn measure(benches: &[Microbench], opts: &TorchCalibrateOptions, progress: impl FnMut(&str)) -> Result<(Measurements, Vec<Skipped>)> {
    let py = python();
    preflight(&py)?;
    let docs = benches
        .iter()
        .map(|mb| Ok(serde_json::json!({"label": mb.label, "warm": mb.warm_caches(), "graph": export(&mb.workload)?})))
        .collect::<Result<Vec<_>>>()?;
    let suite = serde_json::json!({
        "schema": "mmbench.torch-suite",
        "version": 1,
        "benches": docs,
        "host_work": host_work_grid(),
    });
    let runner = PythonRunner::new()?;
    let suite_path = runner.write("suite.json", &suite)?;
    let out = runner.path("raw.json");
    let mut args: Vec<String> = vec!["calibrate".into(), suite_path.display().to_string(), "--out".into(), out.display().to_string()];
    args.extend(["--device".into(), opts.device.clone(), "--math".into(), opts.math.clone()]);
    args.extend(["--passes".into(), opts.passes.to_string(), "--iters".into(), opts.iters.to_string()]);
    if let Some(t) = opts.threads {
        args.extend(["--threads".into(), t.to_string()]);
    }
    runner.run(&py, &args, progress)?;
    let raw: Raw = runner.read(&out)?;
    if raw.schema != "mmbench.torch-calibration" {
        return Err(Error::Unsupported(format!("the PyTorch runner wrote `{}`, not `mmbench.torch-calibration`", raw.schema)));
    }
    let mut raw = raw;
    let skipped = std::mem::take(&mut raw.skipped);
    Ok((measurements(benches, raw, &opts.math)?, skipped))
}

fn env_u64(env: &serde_json::Value, key: &str) -> Option<u64> {
    env.get(key).and_then(serde_json::Value::as_u64)
}

/// The runner's timings as the fit's measurements.
fn measurements(benches: &[Microbench], raw: Raw, math: &str) -> Result<Measurements> {
    let by_label: BTreeMap<&str, &Microbench> = benches.iter().map(|mb| (mb.label.as_str(), mb)).collect();
    let mut samples = Vec::new();
    let mut kernels = BTreeMap::new();
    let mut host_call_s = BTreeMap::new();
    let mut issue_call_s = BTreeMap::new();
    let mut among_call_s = BTreeMap::new();
    let mut busy_s = BTreeMap::new();
    for s in &raw.samples {
        let mb = by_label.get(s.label.as_str()).ok_or_else(|| Error::Unsupported(format!("the runner timed `{}`, which is not in the suite", s.label)))?;
        // A recurrent layer's time is shared by its steps.
        samples.push(Sample::of(mb, s.time_s / mb.steps.max(1) as f64));
        kernels.insert(s.label.clone(), s.kernels);
        host_call_s.insert(s.label.clone(), s.host_s);
        if let Some(t) = s.issue_s {
            issue_call_s.insert(s.label.clone(), t);
        }
        if let Some(t) = s.among_s {
            among_call_s.insert(s.label.clone(), t);
        }
        if let Some(t) = s.busy_s {
            busy_s.insert(s.label.clone(), t);
        }
    }
    let env = &raw.environment;
    let on_gpu = env.get("device").and_then(|d| d.as_str()) == Some("cuda");
    let host_threads = env_u64(env, "host_threads").unwrap_or(1) as u32;
    let eager = EagerProbes {
        math: math.to_string(),
        op_call_s: raw.chain.op_call_s,
        view_call_s: raw.chain.view_call_s,
        launch_s: raw.chain.launch_s,
        sync_s: raw.chain.sync_s,
        copies: raw.copies,
        one_stream_s: raw.streams.as_ref().map(|s| s.one_stream_s),
        two_streams_s: raw.streams.as_ref().map(|s| s.two_streams_s),
        kernels,
        host_call_s,
        issue_call_s,
        among_call_s,
        busy_s,
        environment: raw.environment.clone(),
    };
    // On a CPU, an op's smallest cost is the framework call itself: there is no kernel apart from it.
    let dispatch_s = if raw.chain.tiny_kernel_s > 0.0 { raw.chain.tiny_kernel_s } else { raw.chain.op_call_s };
    Ok(Measurements {
        adapter: env.get("device_name").and_then(|v| v.as_str()).unwrap_or("unknown device").to_string(),
        backend: format!("torch-{} {math}", if on_gpu { "cuda" } else { "cpu" }),
        date: crate::calibrate::today(),
        compute_units: env_u64(env, "sm_count").map_or(host_threads, |n| n as u32),
        // cuBLAS and cuDNN choose their tiles per shape; 128 x 128 is their common large tile, used only for
        // wave quantization of GEMMs that fill the device.
        gemm_tile: [128, 128],
        max_buffer_bytes: env_u64(env, "memory_bytes").unwrap_or(0),
        samples,
        dispatch_s,
        gap_s: 0.0,
        submit_s: raw.chain.sync_s,
        submit_long_s: None,
        // Without copies (a CPU run) the link is free: inputs already live where they are used.
        readback_latency_s: 0.0,
        readback_bytes_per_s: 1e12,
        host_threads,
        driver: env.get("driver").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        host_cpu: env.get("host_cpu").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        host: raw.host,
        eager: Some(eager),
    })
}
