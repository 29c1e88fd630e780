//! Running the microbenchmarks on a wgpu adapter and the host-work stand-in on the CPU.

use super::derive::{HostSample, Measurements, Sample, CHAIN_LONG, CHAIN_SHORT, PROBE_GEMM, PROBE_HOST};
use super::{median, today, Skipped};
use super::suite::{cache_flush, dispatch_chain, Microbench};
use crate::error::{Error, Result};
use crate::exec::context::Gpu;
use crate::exec::execute::{Executor, Iteration};
use crate::exec::host;
use std::time::{Duration, Instant};

/// How long to time each microbenchmark: at least `min_iters` iterations and `min_time`, at most `max_iters`,
/// in each of `rounds` passes over the whole suite.
#[derive(Debug, Clone, Copy)]
pub struct Effort {
    pub min_iters: usize,
    pub max_iters: usize,
    pub min_time: Duration,
    /// Passes over the suite; a sample keeps its fastest iteration over all of them. On a shared machine
    /// slow spells last seconds (the same microbenchmark timed 1.9 times slower late in one pass than alone
    /// a minute later): passes minutes apart let each sample find a quiet moment.
    pub rounds: usize,
}

impl Default for Effort {
    fn default() -> Self {
        Effort { min_iters: 7, max_iters: 60, min_time: Duration::from_millis(150), rounds: 3 }
    }
}

/// Values the cache flush reads and writes: 2 x 48 MiB, more than the last-level cache of the CPUs a
/// software adapter runs on (36 MB on the machine of `validation/`; a GPU's L2 is smaller still).
const FLUSH_ELEMENTS: usize = 12 << 20;

/// Timed iterations of a planned graph, after two warm-up ones; `flush` runs before each timed one.
fn iterations(exec: &Executor, flush: Option<&Executor>, effort: Effort) -> Result<Vec<Iteration>> {
    exec.iterate()?;
    exec.iterate()?;
    let start = Instant::now();
    let mut runs = Vec::new();
    while runs.len() < effort.max_iters && (runs.len() < effort.min_iters || start.elapsed() < effort.min_time) {
        if let Some(f) = flush {
            f.run_once()?;
        }
        runs.push(exec.iterate()?);
    }
    Ok(runs)
}

/// Runs every microbenchmark (`effort.rounds` times) and the fixed-cost probes; `progress` is told each
/// label as it starts.
pub fn measure(gpu: &Gpu, suite: &[Microbench], effort: Effort, mut progress: impl FnMut(&str)) -> Result<(Measurements, Vec<Skipped>)> {
    if !gpu.timestamps {
        return Err(Error::Unsupported(format!(
            "adapter `{}` has no timestamp queries: calibration needs per-kernel device times",
            gpu.name()
        )));
    }
    let mut skipped = Vec::new();
    let flush = Executor::new(gpu, &cache_flush(FLUSH_ELEMENTS)?)?;
    // The fastest time of each microbenchmark so far (None: not runnable on this build).
    let mut best_times: Vec<Option<f64>> = vec![Some(f64::INFINITY); suite.len()];
    let rounds = effort.rounds.max(1);
    let chain = Executor::new(gpu, &dispatch_chain(CHAIN_SHORT)?)?;
    let long_chain = Executor::new(gpu, &dispatch_chain(CHAIN_LONG)?)?;
    let (mut dispatch, mut gap, mut submit, mut submit_long) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        for (mb, best) in suite.iter().zip(&mut best_times) {
            let Some(so_far) = *best else { continue };
            progress(&if rounds > 1 { format!("{} (pass {}/{rounds})", mb.label, round + 1) } else { mb.label.clone() });
            let exec = match Executor::new(gpu, &mb.workload) {
                Ok(e) => e,
                Err(Error::Unsupported(reason)) => {
                    skipped.push(Skipped { label: mb.label.clone(), reason });
                    *best = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let runs = iterations(&exec, (!mb.warm_caches()).then_some(&flush), effort)?;
            let step = exec.plan.steps.iter().position(|s| s.node == mb.op()).expect("the measured op is a step");
            // The fastest iteration: on a shared machine other work only ever adds time (as validation
            // compares workloads at their fastest iteration too).
            *best = Some(runs.iter().map(|r| r.ops[step].1 - r.ops[step].0).fold(so_far, f64::min));
        }
        // The smallest kernel, and chains of them: the gap between passes and the submission latency.
        progress(&format!("dispatch chain (pass {}/{rounds})", round + 1));
        let (d, g, s) = chain_times(&chain, effort)?;
        dispatch.extend(d);
        gap.extend(g);
        submit.extend(s);
        // A longer chain: what each kernel adds to the submission latency.
        for r in &iterations(&long_chain, None, effort)? {
            submit_long.push(r.wall_s - (r.ops[CHAIN_LONG - 1].1 - r.ops[0].0));
        }
    }
    let samples = suite.iter().zip(&best_times).filter_map(|(mb, t)| t.map(|time_s| Sample::of(mb, time_s))).collect();
    progress("read-back");
    let (latency, bandwidth) = readback(gpu)?;
    progress("host work");
    let host = host_samples();
    let threads = crate::hardware::machine::host_threads();
    let m = Measurements {
        adapter: gpu.name().to_string(),
        backend: gpu.backend(),
        date: today(),
        compute_units: if gpu.info.device_type == wgpu::DeviceType::Cpu { threads } else { 1 },
        gemm_tile: crate::exec::kernels::gemm_tile(gpu.subgroups, gpu.tiled_gemm),
        max_buffer_bytes: gpu.limits.max_buffer_size.min(gpu.limits.max_storage_buffer_binding_size),
        samples,
        // The least disturbed iteration of the chain, as for every microbenchmark.
        dispatch_s: fastest(&dispatch),
        gap_s: fastest(&gap).max(0.0),
        submit_s: fastest(&submit).max(0.0),
        submit_long_s: Some(fastest(&submit_long).max(0.0)),
        readback_latency_s: latency,
        readback_bytes_per_s: bandwidth,
        host_threads: threads,
        driver: gpu.driver(),
        host_cpu: crate::hardware::machine::host_cpu(),
        host,
        eager: None,
    };
    Ok((m, skipped))
}

/// Per iteration of a dispatch chain: the smallest kernel's device time (the chain's busy time per kernel),
/// the gap between passes, and the submission latency (wall time less the passes' span), seconds.
fn chain_times(chain: &Executor, effort: Effort) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let (mut dispatch, mut gap, mut submit) = (Vec::new(), Vec::new(), Vec::new());
    for r in &iterations(chain, None, effort)? {
        let n = r.ops.len();
        let span = r.ops[n - 1].1 - r.ops[0].0;
        let busy: f64 = r.ops.iter().map(|(a, b)| b - a).sum();
        dispatch.push(busy / n as f64);
        gap.push((span - busy) / (n - 1) as f64);
        submit.push(r.wall_s - span);
    }
    Ok((dispatch, gap, submit))
}

/// The quick probe of a machine: the figures a wgpu calibration records in its description's `machine:`
/// ([`Measurements::machine`]), timed the same way in about a second: the smallest kernel and the
/// submission latency (a dispatch chain), [`PROBE_GEMM`] after a cache flush, and the host-work stand-in at
/// [`PROBE_HOST`]; each the fastest of its timings.
pub fn quick_probe(gpu: &Gpu) -> Result<std::collections::BTreeMap<String, f64>> {
    let effort = Effort { min_iters: 7, max_iters: 60, min_time: Duration::from_millis(100), rounds: 1 };
    let chain = Executor::new(gpu, &dispatch_chain(CHAIN_SHORT)?)?;
    let (dispatch, _, submit) = chain_times(&chain, effort)?;
    let gemm = super::suite::suite(super::suite::Depth::Quick)?.into_iter().find(|m| m.label == PROBE_GEMM).expect("the quick suite holds the probe's GEMM");
    let exec = Executor::new(gpu, &gemm.workload)?;
    let flush = Executor::new(gpu, &cache_flush(FLUSH_ELEMENTS)?)?;
    let step = exec.plan.steps.iter().position(|s| s.node == gemm.op()).expect("the measured op is a step");
    let gemm_s = fastest(&iterations(&exec, Some(&flush), effort)?.iter().map(|r| r.ops[step].1 - r.ops[step].0).collect::<Vec<_>>());
    let mut host_flush = vec![0.0f32; FLUSH_ELEMENTS];
    let host_s = time_host_work(&mut host_flush, PROBE_HOST.0, PROBE_HOST.1);
    Ok([("dispatch_s", fastest(&dispatch)), ("submit_s", fastest(&submit).max(0.0)), ("gemm_s", gemm_s), ("host_s", host_s)]
        .into_iter()
        .filter(|(_, v)| *v > 0.0 && v.is_finite())
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

fn fastest(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Read-back latency (4 bytes) and bandwidth (16 MiB), medians of repeated reads.
fn readback(gpu: &Gpu) -> Result<(f64, f64)> {
    const BIG: u64 = 16 << 20;
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("read-back probe"),
        size: BIG,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let time = |bytes: u64, reps: usize| -> Result<f64> {
        gpu.read(&buffer, 0, bytes)?;
        let mut v = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            std::hint::black_box(gpu.read(&buffer, 0, bytes)?);
            v.push(t.elapsed().as_secs_f64());
        }
        Ok(median(&v))
    };
    let small = time(4, 21)?;
    let big = time(BIG, 7)?;
    Ok((small, BIG as f64 / (big - small).max(1e-9)))
}

/// Single-threaded timings of the host-work stand-in over FLOPs and working sets like the workloads'
/// (tens of MB for sarcasm's audio features), each from cold caches as in a workload, where the GPU work
/// before it (on a CPU adapter, on the same cores) evicted the stand-in's data: the fastest of five.
fn host_samples() -> Vec<HostSample> {
    let mut flush = vec![0.0f32; FLUSH_ELEMENTS];
    // The cost model's bytes of a host-work op are its declared bytes.
    super::suite::host_work_grid().into_iter().map(|(flops, bytes)| HostSample { flops, bytes, threads: 1, time_s: time_host_work(&mut flush, flops, bytes) }).collect()
}

/// The host-work stand-in at (FLOPs, bytes), single-threaded, after `flush` evicted its data: the fastest of
/// five.
fn time_host_work(flush: &mut [f32], flops: u64, bytes: u64) -> f64 {
    let elements = (bytes / 4) as usize;
    let mut scratch = vec![0.0f32; if elements == 0 { host::REGISTER_SET } else { elements }];
    std::hint::black_box(host::stand_in(&mut scratch, flops, 1));
    let times: Vec<f64> = (0..5)
        .map(|_| {
            flush.iter_mut().for_each(|x| *x += 1.0);
            std::hint::black_box(&mut *flush);
            let t = Instant::now();
            std::hint::black_box(host::stand_in(&mut scratch, flops, 1));
            t.elapsed().as_secs_f64()
        })
        .collect();
    fastest(&times)
}

