//! Driving the Python runner: the workload is exported ([`super::export`]), the runner package (embedded in
//! the binary, so a copied `mmbench` needs nothing beside it) is unpacked next to it, `python3 -m
//! mmbench_torch run` builds and times it, and its result (schema `mmbench.torch-run`) becomes a
//! [`Measured`] run laid out as the wgpu executor's: a trace per iteration, per-op times, the check.
//!
//! Timings: each timed iteration brackets every stage segment (a run of calls of one stage and modality)
//! with CUDA events, so stage times carry no per-op instrumentation. A segment's time is shared among its
//! calls by what each adds to the device timeline in the profiled iterations (kernels and the launch gaps
//! before them), and a call's share among its ops by their kernels.

use super::export::export;
use crate::error::{Error, Result};
use crate::exec::data::{source_values, Tensor};
use crate::exec::reference::{evaluate, params_of, relative_l2};
use crate::exec::{timeline, CheckReport, Measured, OpCheck, OpTime, RunStats, Spread, TimingMethod};
use crate::graph::{DType, Op, Workload};
use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The runner's files, embedded so that a copied binary carries them.
const PACKAGE: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/mmbench_torch/__init__.py")),
    ("__main__.py", include_str!("../../../python/mmbench_torch/__main__.py")),
    ("data.py", include_str!("../../../python/mmbench_torch/data.py")),
    ("graph.py", include_str!("../../../python/mmbench_torch/graph.py")),
    ("ops.py", include_str!("../../../python/mmbench_torch/ops.py")),
    ("bench.py", include_str!("../../../python/mmbench_torch/bench.py")),
    ("run.py", include_str!("../../../python/mmbench_torch/run.py")),
];

/// The Python interpreter: `MMBENCH_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("MMBENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Where and how the PyTorch backend runs.
#[derive(Debug, Clone)]
pub struct TorchOptions {
    /// `cuda` or `cpu`.
    pub device: String,
    /// `fp32` (strict), `default` (PyTorch's defaults: TF32 convolutions) or `tf32`.
    pub math: String,
    pub iters: usize,
    pub warmup: usize,
    /// Iterations under `torch.profiler` (kernels and per-op shares).
    pub profile_iters: usize,
    /// Compare every materialized value with the CPU reference.
    pub check: bool,
    pub tolerance: f64,
    /// Each modality's encoder on its own CUDA stream.
    pub streams: bool,
    /// CPU threads for PyTorch (`torch.set_num_threads`); its default when `None`.
    pub threads: Option<usize>,
    /// Stop timing a configuration after three iterations once its timed ones took this long, seconds
    /// (configurations of seconds per inference in a campaign).
    pub budget_s: Option<f64>,
    /// Time a fast configuration for at least this long, seconds, after a warm-up of half as long (more
    /// iterations than `iters`, up to the runner's cap): a millisecond inference timed ten times is at the
    /// mercy of one slow iteration.
    pub min_time_s: Option<f64>,
}

/// How long `run --backend torch --device cuda` times a fast configuration at least, seconds.
pub const GPU_MIN_TIME_S: f64 = 0.5;

impl Default for TorchOptions {
    fn default() -> Self {
        TorchOptions { device: "cuda".into(), math: "fp32".into(), iters: 10, warmup: 2, profile_iters: 3, check: false, tolerance: 1e-4, streams: false, threads: None, budget_s: None, min_time_s: None }
    }
}

/// What the runner writes (`python/mmbench_torch/run.py`).
#[derive(Debug, Clone, Deserialize)]
struct RunnerResult {
    schema: String,
    version: u32,
    environment: serde_json::Value,
    streams: bool,
    calls: Vec<CallDoc>,
    segments: Vec<SegmentDoc>,
    iteration_ms: Vec<f64>,
    host_ms: Vec<f64>,
    /// Per iteration, per segment: (start, end) ms after the iteration's start.
    segment_ms: Vec<Vec<(f64, f64)>>,
    peak_memory_bytes: Option<u64>,
    profile: Option<Profile>,
    #[serde(default)]
    check: Option<CheckDoc>,
    /// Per call: its host time inside an inference, issued bare (median, µs); absent in older runners.
    #[serde(default)]
    call_issue_us: Option<Vec<f64>>,
    /// The chain probe the runner timed before its graphs; absent in older runners.
    #[serde(default)]
    probe: Option<ChainProbe>,
}

/// The host's cost of a framework call and of its launch, as `bench.probe_chain` times them.
#[derive(Debug, Clone, Deserialize)]
struct ChainProbe {
    op_call_s: f64,
    launch_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct CallDoc {
    nodes: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
struct SegmentDoc {
    calls: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
struct Profile {
    /// Per profiled iteration, per call.
    calls: Vec<Vec<CallProfile>>,
    /// Durations of the last profiled iteration's kernels, µs.
    kernel_us: Vec<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct CallProfile {
    kernels: u32,
    copies: u32,
    busy_us: f64,
    span_us: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct CheckDoc {
    dir: PathBuf,
}

/// What the PyTorch backend measures beyond the common run statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TorchStats {
    /// Versions, device, driver, host CPU and math mode, as the runner read them.
    pub environment: serde_json::Value,
    pub streams: bool,
    /// Host time from the start of an iteration to its results (the final synchronize included), ms.
    pub host_ms: crate::exec::report::SpreadMs,
    pub peak_memory_bytes: Option<u64>,
    /// Kernels of one inference, measured by the profiler, and as the cost model counts them.
    pub kernels: u64,
    pub predicted_kernels: u64,
    /// Copies (and memsets) on the device.
    pub copies: u64,
    /// Kernels shorter than 10 µs, and their share.
    pub kernels_under_10us: u64,
    pub kernel_share_under_10us: f64,
    /// Median kernel time of one inference (the device's busy time), ms.
    pub kernel_ms: f64,
    /// Measured kernels per executed op, in program order (an op of a fused call gets its call's kernels
    /// shared by the cost model's counts).
    pub op_kernels: Vec<u32>,
    /// The host's time to issue one inference's calls, each timed alone inside an inference without the
    /// profiler (medians summed; the final synchronize not included), ms. Absent from older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_ms: Option<f64>,
    /// Each executed op's share of that, in program order, µs: a call's time goes to its first op.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_issue_us: Vec<f64>,
}

/// Kernels shorter than this are "tiny" (MMBench: most of AV-MNIST's kernels last under 10 µs).
pub const TINY_KERNEL_US: f64 = 10.0;

/// A temporary directory holding the runner package and the files exchanged with it, removed when dropped.
pub struct PythonRunner {
    dir: PathBuf,
}

impl PythonRunner {
    /// A fresh directory with the runner package unpacked in it.
    pub fn new() -> Result<PythonRunner> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("mmbench-torch-{}-{nanos}", std::process::id()));
        let package = dir.join("mmbench_torch");
        std::fs::create_dir_all(&package).map_err(|e| Error::Write { path: package.clone(), source: e })?;
        let runner = PythonRunner { dir };
        for (name, text) in PACKAGE {
            let path = package.join(name);
            std::fs::write(&path, text).map_err(|e| Error::Write { path, source: e })?;
        }
        Ok(runner)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `value` as JSON into the directory; returns its path.
    pub fn write(&self, name: &str, value: &impl Serialize) -> Result<PathBuf> {
        let path = self.path(name);
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Unsupported(format!("JSON encoding failed: {e}")))?;
        std::fs::write(&path, bytes).map_err(|e| Error::Write { path: path.clone(), source: e })?;
        Ok(path)
    }

    /// Reads a JSON result the runner wrote.
    pub fn read<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Read { path: path.to_path_buf(), source: e })?;
        serde_json::from_str(&text).map_err(|e| Error::Unsupported(format!("the PyTorch runner's result is not what this mmbench reads: {e}")))
    }

    /// Runs `python -m mmbench_torch ARGS`; each `progress: ...` line it prints is passed to `progress` as it
    /// comes. A failure is an error with the runner's own message (`mmbench-torch: ...`), or its last lines.
    pub fn run(&self, python: &str, args: &[String], mut progress: impl FnMut(&str)) -> Result<()> {
        use std::io::BufRead;
        let mut child = Command::new(python)
            .env("PYTHONPATH", &self.dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .args(["-m", "mmbench_torch"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Unsupported(format!("cannot start `{python}`: {e}")))?;
        let mut lines = Vec::new();
        if let Some(err) = child.stderr.take() {
            for line in std::io::BufReader::new(err).lines().map_while(std::result::Result::ok) {
                match line.strip_prefix("progress: ") {
                    Some(p) => progress(p),
                    None => lines.push(line),
                }
            }
        }
        let status = child.wait().map_err(|e| Error::Unsupported(format!("the PyTorch runner did not finish: {e}")))?;
        if status.success() {
            return Ok(());
        }
        let user = lines.iter().filter_map(|l| l.strip_prefix("mmbench-torch: ")).next_back();
        Err(Error::Unsupported(match user {
            Some(m) => m.to_string(),
            None => format!("the PyTorch runner failed ({status}):\n{}", lines[lines.len().saturating_sub(30)..].join("\n")),
        }))
    }
}

impl Drop for PythonRunner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Checks that the interpreter exists and imports torch and numpy; the error says what to install.
pub fn preflight(python: &str) -> Result<String> {
    let out = Command::new(python).args(["-c", "import torch, numpy; print(torch.__version__)"]).output().map_err(|e| {
        Error::Unsupported(format!(
            "the PyTorch backend needs Python 3 with PyTorch: cannot start `{python}` ({e}); install Python 3, or name the interpreter in MMBENCH_PYTHON"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim();
        return Err(Error::Unsupported(format!(
            "the PyTorch backend needs PyTorch and NumPy for `{python}`: {last}; install them with `{python} -m pip install torch numpy`"
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `w` in PyTorch eagerly and measures it.
pub fn run(w: &Workload, opts: &TorchOptions) -> Result<Measured> {
    run_many(&[w], opts, |_| {})?.pop().expect("one result per workload")
}

/// Runs every workload in one runner process (a campaign pays for starting PyTorch and CUDA once); each gets
/// its measurement or the error that ended it (out of device memory, say), in order. `progress` is told each
/// configuration as it starts.
pub fn run_many(ws: &[&Workload], opts: &TorchOptions, progress: impl FnMut(&str)) -> Result<Vec<Result<Measured>>> {
    if opts.iters == 0 {
        return Err(Error::input(Default::default(), "`--iters` must be at least 1"));
    }
    if opts.check && opts.math != "fp32" {
        return Err(Error::input(Default::default(), format!("`--check` compares in strict fp32: use `--math fp32`, not `{}`", opts.math)));
    }
    let python = python();
    preflight(&python)?;
    let runner = PythonRunner::new()?;
    let mut args: Vec<String> = vec!["run".into()];
    for (k, w) in ws.iter().enumerate() {
        args.push(runner.write(&format!("graph{k}.json"), &export(w)?)?.display().to_string());
    }
    let out_dir = runner.path("results");
    args.extend(["--out-dir".into(), out_dir.display().to_string()]);
    args.extend(["--device".into(), opts.device.clone(), "--math".into(), opts.math.clone()]);
    args.extend(["--iters".into(), opts.iters.to_string(), "--warmup".into(), opts.warmup.to_string(), "--profile-iters".into(), opts.profile_iters.to_string()]);
    if let Some(b) = opts.budget_s {
        args.extend(["--budget-s".into(), b.to_string()]);
    }
    if let Some(t) = opts.min_time_s {
        args.extend(["--min-time-s".into(), t.to_string()]);
    }
    if opts.check {
        if ws.len() != 1 {
            return Err(Error::Unsupported("`--check` runs one workload at a time".into()));
        }
        args.extend(["--check-dir".into(), runner.path("values").display().to_string()]);
    }
    if opts.streams {
        args.push("--streams".into());
    }
    if let Some(t) = opts.threads {
        args.extend(["--threads".into(), t.to_string()]);
    }
    runner.run(&python, &args, progress)?;
    Ok(ws
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let value: serde_json::Value = runner.read(&out_dir.join(format!("{k}.json")))?;
            if let Some(e) = value.get("error").and_then(|e| e.as_str()) {
                return Err(Error::Unsupported(format!("`{}` at batch {} in PyTorch: {e}", w.name, w.batch)));
            }
            let r: RunnerResult = serde_json::from_value(value).map_err(|e| Error::Unsupported(format!("the PyTorch runner's result is not what this mmbench reads: {e}")))?;
            if r.schema != "mmbench.torch-run" || r.version != 1 {
                return Err(Error::Unsupported(format!("the PyTorch runner wrote `{}` version {}, not `mmbench.torch-run` version 1", r.schema, r.version)));
            }
            let check = match &r.check {
                Some(c) if opts.check => Some(check(w, &c.dir, opts.tolerance)?),
                _ => None,
            };
            measured(w, &r, opts, check)
        })
        .collect())
}

/// The nodes that have a record of their own in a measured trace: everything but inputs and weights.
fn is_step(w: &Workload, i: usize) -> bool {
    !matches!(w.node(NodeIndex::new(i)).op, Op::Input(_) | Op::Weight(_))
}

/// Each call's share of its segment: what it adds to the device timeline, median over profiled iterations.
fn call_weights(r: &RunnerResult) -> Vec<f64> {
    match &r.profile {
        Some(p) if !p.calls.is_empty() => (0..r.calls.len())
            .map(|c| {
                let spans: Vec<f64> = p.calls.iter().filter_map(|it| it.get(c)).map(|x| x.span_us).collect();
                crate::calibrate::median(&spans)
            })
            .collect(),
        _ => vec![1.0; r.calls.len()],
    }
}

/// Splits `[start, end]` among items by weight (equally when every weight is zero).
fn split(start: f64, end: f64, weights: &[f64]) -> Vec<(f64, f64)> {
    let total: f64 = weights.iter().sum();
    let n = weights.len().max(1) as f64;
    let mut t = start;
    weights
        .iter()
        .map(|&wt| {
            let d = (end - start) * if total > 0.0 { wt / total } else { 1.0 / n };
            let iv = (t, t + d);
            t += d;
            iv
        })
        .collect()
}

/// Per executed node of one iteration: (start, end) seconds.
fn node_times(w: &Workload, r: &RunnerResult, weights: &[f64], segments: &[(f64, f64)]) -> Vec<(usize, (f64, f64))> {
    let mut out = Vec::new();
    for (seg, &(a, b)) in r.segments.iter().zip(segments) {
        let ws: Vec<f64> = seg.calls.iter().map(|&c| weights[c]).collect();
        for (&c, (cs, ce)) in seg.calls.iter().zip(split(a * 1e-3, b * 1e-3, &ws)) {
            let steps: Vec<usize> = r.calls[c].nodes.iter().copied().filter(|&n| is_step(w, n)).collect();
            let kw: Vec<f64> = steps.iter().map(|&n| f64::from(w.node(NodeIndex::new(n)).cost.kernels)).collect();
            for (&n, iv) in steps.iter().zip(split(cs, ce, &kw)) {
                out.push((n, iv));
            }
        }
    }
    out.sort_by_key(|(n, _)| *n);
    out
}

fn measured(w: &Workload, r: &RunnerResult, opts: &TorchOptions, check: Option<CheckReport>) -> Result<Measured> {
    let n = r.iteration_ms.len();
    if n == 0 || r.segment_ms.len() != n || r.segment_ms.iter().any(|s| s.len() != r.segments.len()) {
        return Err(Error::Unsupported("the PyTorch runner's result has no complete timed iteration".into()));
    }
    let adapter = r.environment.get("device_name").and_then(|v| v.as_str()).unwrap_or("unknown device").to_string();
    let weights = call_weights(r);
    let times: Vec<Vec<(usize, (f64, f64))>> = r.segment_ms.iter().map(|s| node_times(w, r, &weights, s)).collect();
    let steps: Vec<NodeIndex> = times[0].iter().map(|(n, _)| NodeIndex::new(*n)).collect();
    let walls: Vec<f64> = r.iteration_ms.iter().map(|ms| ms * 1e-3).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| walls[a].total_cmp(&walls[b]));
    let trace_of = |k: usize| {
        let iv: Vec<(f64, f64)> = times[k].iter().map(|(_, t)| *t).collect();
        let mut t = timeline::measured_trace(w, &adapter, &steps, &iv, walls[k]);
        t.runtime = if r.streams { "eager_streams".into() } else { "eager".into() };
        t
    };
    let trace = trace_of(order[n / 2]);
    let fastest = trace_of(order[0]);
    // Per-op times over the profiled iterations: each call's span shared among its ops as in the trace.
    let op_spreads: Vec<Spread> = match &r.profile {
        Some(p) if !p.calls.is_empty() => {
            let per_iter: Vec<Vec<(usize, (f64, f64))>> = p
                .calls
                .iter()
                .map(|calls| {
                    let spans: Vec<f64> = calls.iter().map(|c| c.span_us).collect();
                    let whole: Vec<(f64, f64)> = r.segments.iter().map(|s| (0.0, s.calls.iter().map(|&c| spans[c] * 1e-3).sum::<f64>())).collect();
                    node_times(w, r, &spans, &whole)
                })
                .collect();
            (0..steps.len()).map(|i| Spread::of(&per_iter.iter().map(|it| it[i].1 .1 - it[i].1 .0).collect::<Vec<_>>())).collect()
        }
        _ => (0..steps.len()).map(|i| Spread::of(&times.iter().map(|it| it[i].1 .1 - it[i].1 .0).collect::<Vec<_>>())).collect(),
    };
    let ops = steps.iter().zip(op_spreads).map(|(&s, time)| OpTime { name: w.node(s).name.clone(), op: w.node(s).op.kind(), time }).collect();
    let torch = torch_stats(w, r, &steps);
    let stats = RunStats {
        adapter,
        backend: format!("torch-{}", opts.device),
        timing: if opts.device == "cuda" { TimingMethod::CudaEvents } else { TimingMethod::HostClock },
        iterations: n,
        warmup: opts.warmup,
        wall: Spread::of(&walls),
        ops,
        check,
        torch: Some(torch),
        machine: Some(machine_of(r, opts)),
    };
    Ok(Measured { trace, fastest, stats })
}

/// The machine the runner ran on, as its environment record says, with the chain probe it timed before the
/// graphs (the call and launch costs a PyTorch calibration records, timed the same way).
fn machine_of(r: &RunnerResult, opts: &TorchOptions) -> crate::hardware::machine::MachineRecord {
    let env = &r.environment;
    let text = |k: &str| env.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    crate::hardware::machine::MachineRecord {
        adapter: text("device_name"),
        backend: format!("torch-{} {}", opts.device, opts.math),
        driver: text("driver"),
        host_cpu: text("host_cpu"),
        host_threads: env.get("host_threads").and_then(serde_json::Value::as_u64).unwrap_or(0) as u32,
        date: crate::calibrate::today(),
        probe: r.probe.as_ref().map(|p| [("op_call_s", p.op_call_s), ("launch_s", p.launch_s)].into_iter().filter(|(_, v)| *v > 0.0).map(|(k, v)| (k.to_string(), v)).collect()).unwrap_or_default(),
    }
}

fn torch_stats(w: &Workload, r: &RunnerResult, steps: &[NodeIndex]) -> TorchStats {
    let host: Vec<f64> = r.host_ms.iter().map(|ms| ms * 1e-3).collect();
    let (mut kernels, mut copies, mut kernel_ms) = (0u64, 0u64, 0.0f64);
    let mut op_kernels = vec![0u32; steps.len()];
    let (mut tiny, mut share) = (0u64, 0.0);
    if let Some(p) = &r.profile
        && let Some(last) = p.calls.last()
    {
        kernels = last.iter().map(|c| u64::from(c.kernels)).sum();
        copies = last.iter().map(|c| u64::from(c.copies)).sum();
        let busy: Vec<f64> = p.calls.iter().map(|it| it.iter().map(|c| c.busy_us).sum::<f64>() * 1e-3).collect();
        kernel_ms = crate::calibrate::median(&busy);
        tiny = p.kernel_us.iter().filter(|&&us| us < TINY_KERNEL_US).count() as u64;
        share = if p.kernel_us.is_empty() { 0.0 } else { tiny as f64 / p.kernel_us.len() as f64 };
        // A call's kernels shared among its ops by the cost model's counts (the remainder to the last).
        let pos: std::collections::HashMap<usize, usize> = steps.iter().enumerate().map(|(i, s)| (s.index(), i)).collect();
        for (call, prof) in r.calls.iter().zip(last) {
            let ops: Vec<usize> = call.nodes.iter().copied().filter(|n| pos.contains_key(n)).collect();
            let model: u32 = ops.iter().map(|&n| w.node(NodeIndex::new(n)).cost.kernels).sum();
            let mut left = prof.kernels;
            for (k, &n) in ops.iter().enumerate() {
                let mine = if k + 1 == ops.len() {
                    left
                } else if model > 0 {
                    (u64::from(prof.kernels) * u64::from(w.node(NodeIndex::new(n)).cost.kernels) / u64::from(model)) as u32
                } else {
                    0
                };
                let mine = mine.min(left);
                left -= mine;
                op_kernels[pos[&n]] = mine;
            }
        }
    }
    let mut op_issue_us = Vec::new();
    if let Some(issue) = r.call_issue_us.as_ref().filter(|v| v.len() == r.calls.len()) {
        let pos: std::collections::HashMap<usize, usize> = steps.iter().enumerate().map(|(i, s)| (s.index(), i)).collect();
        op_issue_us = vec![0.0; steps.len()];
        // A call of no executed op (an input's placement) goes to the op before it, or the first.
        let mut last = 0;
        for (call, &us) in r.calls.iter().zip(issue) {
            if let Some(&first) = call.nodes.iter().find_map(|n| pos.get(n)) {
                last = first;
            }
            if let Some(t) = op_issue_us.get_mut(last) {
                *t += us;
            }
        }
    }
    TorchStats {
        environment: r.environment.clone(),
        streams: r.streams,
        host_ms: Spread::of(&host).into(),
        peak_memory_bytes: r.peak_memory_bytes,
        kernels,
        predicted_kernels: w.kernels(),
        copies,
        kernels_under_10us: tiny,
        kernel_share_under_10us: share,
        kernel_ms,
        op_kernels,
        issue_ms: r.call_issue_us.as_ref().map(|v| v.iter().sum::<f64>() * 1e-3),
        op_issue_us,
    }
}

/// A saved value of the runner (`python/mmbench_torch/run.py::save_values`).
#[derive(Debug, Deserialize)]
struct SavedValue {
    file: String,
    dtype: String,
    shape: Vec<usize>,
}

fn read_saved(dir: &Path) -> Result<std::collections::HashMap<usize, Tensor>> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Read { path: path.clone(), source: e })?;
    let manifest: std::collections::BTreeMap<String, SavedValue> =
        serde_json::from_str(&text).map_err(|e| Error::Unsupported(format!("{}: {e}", path.display())))?;
    let mut out = std::collections::HashMap::new();
    for (k, v) in manifest {
        let i: usize = k.parse().map_err(|_| Error::Unsupported(format!("{}: `{k}` is no node index", path.display())))?;
        let file = dir.join(&v.file);
        let bytes = std::fs::read(&file).map_err(|e| Error::Read { path: file.clone(), source: e })?;
        let words: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let n: usize = v.shape.iter().product();
        if words.len() != n {
            return Err(Error::Unsupported(format!("{}: {} values for shape {:?}", file.display(), words.len(), v.shape)));
        }
        let dtype = if v.dtype == "u32" { DType::I64 } else { DType::F32 };
        out.insert(i, Tensor::from_words(dtype, &v.shape, &words));
    }
    Ok(out)
}

/// Every value PyTorch materialized against the CPU reference evaluated on PyTorch's own inputs of that op.
/// Ops inside a fused call (a recurrent layer's steps) have no value of their own: the reference runs them
/// from the call's inputs, and the call's outputs are compared.
fn check(w: &Workload, dir: &Path, tolerance: f64) -> Result<CheckReport> {
    let saved = read_saved(dir)?;
    let mut reference: Vec<Option<Tensor>> = vec![None; w.len()];
    let mut ops = Vec::new();
    for (i, node) in w.nodes() {
        let want = match source_values(w, i) {
            Some(v) => v,
            None => {
                let inputs: Vec<&Tensor> = node
                    .inputs
                    .iter()
                    .map(|p| saved.get(&p.index()).or(reference[p.index()].as_ref()).expect("producers come first"))
                    .collect();
                evaluate(node, &inputs, &params_of(w, i)?)?
            }
        };
        if let Some(got) = saved.get(&i.index())
            && is_step(w, i.index())
        {
            let (rel_l2, elements) = compare(got, &want);
            ops.push(OpCheck { name: node.name.clone(), op: node.op.kind(), rel_l2, unwritten: 0, elements });
        }
        reference[i.index()] = Some(want);
    }
    Ok(CheckReport { tolerance, ops })
}

fn compare(got: &Tensor, want: &Tensor) -> (f64, u64) {
    if got.shape() != want.shape() {
        return (f64::INFINITY, want.len() as u64);
    }
    let (g, r) = (got.as_values(), want.as_values());
    let (g, r) = (g.as_standard_layout(), r.as_standard_layout());
    (relative_l2(g.as_slice().expect("standard layout"), r.as_slice().expect("standard layout")), want.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_shares_by_weight_and_equally_without_weights() {
        assert_eq!(split(0.0, 4.0, &[1.0, 3.0]), vec![(0.0, 1.0), (1.0, 4.0)]);
        assert_eq!(split(2.0, 4.0, &[0.0, 0.0]), vec![(2.0, 3.0), (3.0, 4.0)]);
    }

    #[test]
    fn a_missing_interpreter_says_what_to_install() {
        let e = preflight("/nonexistent/python3").unwrap_err().to_string();
        assert!(e.contains("Python 3") && e.contains("MMBENCH_PYTHON"), "{e}");
    }
}
