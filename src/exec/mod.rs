//! The wgpu executor: runs any workload graph for real on a GPU adapter, op by op, with per-op GPU timing,
//! and checks it against a CPU reference. Its result is a [`Trace`] laid out like a predicted one, so every
//! analysis reads both.
//!
//! Read top to bottom like wgpu's `hello_compute`:
//! - [`context`]: instance, adapter (`--adapter NAME`), device with the adapter's limits and timestamps;
//! - [`plan`]: buffers (one per node output; views alias at an offset), weights and inputs, pipelines;
//! - `kernels/`: one WGSL file and one Rust file per op family, describing dispatches;
//! - [`split`]: ops whose tensors exceed one storage binding, cut into pieces that bind windows;
//! - [`execute`]: encode, submit, time (timestamp queries), read back;
//! - [`check`]: compare each op with the CPU reference.
//!
//! Without a GPU: [`data`] (the deterministic weights and inputs), [`params`] (weight layouts),
//! [`reference`] (ndarray), [`timeline`] (the measured trace) and [`report`] work in every build. Built
//! without the `gpu` feature, [`run`] returns [`Error::Unsupported`].

// The crate-wide `Error` carries a `Location` (file, field, node) by design; clippy flags every `Result`
// that returns it, all over the crate.
#![allow(clippy::result_large_err)]

/// From this many elements folded per output on, reductions, softmax and layer and instance norms fold each
/// output in a workgroup (a strided share per invocation, then a tree) rather than in one invocation. The
/// cost model knows it as the wgpu device's `fold_paths` (see `calibrate::derive`).
pub const WORKGROUP_FOLD_FROM: usize = 64;

pub mod data;
pub mod host;
pub mod params;
pub mod reference;
pub mod report;
pub mod timeline;

#[cfg(feature = "gpu")]
pub mod check;
#[cfg(feature = "gpu")]
pub mod context;
#[cfg(feature = "gpu")]
pub mod execute;
#[cfg(feature = "gpu")]
pub mod kernels;
#[cfg(feature = "gpu")]
pub mod plan;
#[cfg(feature = "gpu")]
pub mod split;

use crate::error::{Error, Result};
use crate::graph::Workload;
use crate::trace::Trace;
use serde::Serialize;

/// What `run` needs besides the workload.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Timed iterations.
    pub iters: usize,
    /// Untimed iterations first (pipelines warm, caches filled).
    pub warmup: usize,
    /// A case-insensitive part of the adapter's name; the most capable adapter when `None`.
    pub adapter: Option<String>,
    /// Compare every op with the CPU reference.
    pub check: bool,
    /// Largest relative L2 error a checked op may have.
    pub tolerance: f64,
    /// Time the machine's quick probe first (about a second), for the run's machine record.
    pub probe: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { iters: 10, warmup: 2, adapter: None, check: false, tolerance: 1e-4, probe: true }
    }
}

/// How op times were measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimingMethod {
    /// GPU timestamps at the start and end of each op's compute pass.
    #[serde(rename = "timestamp-query")]
    TimestampQuery,
    /// Each op submitted alone and waited for, timed on the host: includes submission overhead.
    #[serde(rename = "per-op submit (coarse)")]
    PerOpSubmit,
    /// CUDA events around every stage segment; per-op shares from `torch.profiler` (the PyTorch backend).
    #[serde(rename = "cuda-events")]
    CudaEvents,
    /// The host clock around every stage segment (the PyTorch backend on the CPU, where ops run synchronously).
    #[serde(rename = "host-clock")]
    HostClock,
}

impl TimingMethod {
    pub fn name(self) -> &'static str {
        match self {
            TimingMethod::TimestampQuery => "timestamp-query",
            TimingMethod::PerOpSubmit => "per-op submit (coarse)",
            TimingMethod::CudaEvents => "cuda-events",
            TimingMethod::HostClock => "host-clock",
        }
    }
}

/// Median and spread of a set of samples, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// Quartiles (linear interpolation between samples).
    pub p25_s: f64,
    pub p75_s: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Spread {
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |f: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let x = f * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Spread { median_s: q(0.5), min_s: q(0.0), max_s: q(1.0), p25_s: q(0.25), p75_s: q(0.75) }
    }
}

/// Timing of one op over the iterations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpTime {
    pub name: String,
    pub op: String,
    pub time: Spread,
}

/// One op compared with the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpCheck {
    pub name: String,
    pub op: String,
    /// `|gpu - reference| / |reference|` (infinite when a value the reference has is missing).
    pub rel_l2: f64,
    /// Output elements no kernel wrote (they kept the NaN the check filled them with).
    pub unwritten: u64,
    pub elements: u64,
}

impl OpCheck {
    pub fn passed(&self, tolerance: f64) -> bool {
        self.rel_l2 <= tolerance && self.unwritten == 0
    }
}

/// Every op compared with the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub tolerance: f64,
    pub ops: Vec<OpCheck>,
}

impl CheckReport {
    pub fn failures(&self) -> impl Iterator<Item = &OpCheck> {
        self.ops.iter().filter(|o| !o.passed(self.tolerance))
    }

    /// The op with the largest error.
    pub fn worst(&self) -> Option<&OpCheck> {
        self.ops.iter().max_by(|a, b| a.rel_l2.total_cmp(&b.rel_l2))
    }
}

/// Everything about a measured run besides the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStats {
    pub adapter: String,
    pub backend: String,
    pub timing: TimingMethod,
    pub iterations: usize,
    pub warmup: usize,
    /// End-to-end time of an iteration (submit to work done).
    pub wall: Spread,
    /// Per executed op, in program order.
    pub ops: Vec<OpTime>,
    pub check: Option<CheckReport>,
    /// What the PyTorch backend measures besides (kernels, peak memory, versions).
    pub torch: Option<crate::backend::torch::runner::TorchStats>,
    /// The machine it ran on, with the quick probe's figures where they were timed: what `validate` and
    /// `run --hardware` compare with a calibrated description's `machine:`.
    pub machine: Option<crate::hardware::machine::MachineRecord>,
}

/// A measured run: the trace of the median iteration, and the statistics of all of them.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The iteration whose wall time is the median.
    pub trace: Trace,
    /// The fastest iteration: the least disturbed by other work on the machine.
    pub fastest: Trace,
    pub stats: RunStats,
}

/// Why `run` fails in a build without the GPU backend.
pub const NO_GPU_BACKEND: &str = "built without the wgpu backend: rebuild with the default `gpu` feature";

/// Runs `w` on a GPU adapter: plans it, warms up, times `iters` iterations and optionally checks every op.
#[cfg(feature = "gpu")]
pub fn run(w: &Workload, opts: &RunOptions) -> Result<Measured> {
    let gpu = context::Gpu::new(opts.adapter.as_deref())?;
    run_on(&gpu, w, opts)
}

/// [`run`] on a device that is already open.
#[cfg(feature = "gpu")]
pub fn run_on(gpu: &context::Gpu, w: &Workload, opts: &RunOptions) -> Result<Measured> {
    if opts.iters == 0 {
        return Err(Error::input(Default::default(), "`--iters` must be at least 1"));
    }
    // A checked run reads every op's output afterwards, so it keeps them all; a timed one reuses buffers as
    // a framework's allocator does, so that large workloads fit in memory.
    let memory = if opts.check { plan::Memory::KeepAll } else { plan::Memory::Reuse };
    // The machine, and its quick probe on a quiet device, before the workload's own buffers exist.
    let machine = crate::hardware::machine::MachineRecord {
        adapter: gpu.name().to_string(),
        backend: gpu.backend(),
        driver: gpu.driver(),
        host_cpu: crate::hardware::machine::host_cpu(),
        host_threads: crate::hardware::machine::host_threads(),
        date: crate::calibrate::today(),
        probe: if opts.probe { crate::calibrate::measure::quick_probe(gpu)? } else { Default::default() },
    };
    let exec = execute::Executor::with_memory(gpu, w, memory)?;
    let check = if opts.check { Some(check::check(&exec, w, opts.tolerance)?) } else { None };
    for _ in 0..opts.warmup {
        exec.iterate()?;
    }
    let runs = (0..opts.iters).map(|_| exec.iterate()).collect::<Result<Vec<_>>>()?;
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let wall = Spread::of(&walls);
    // The trace shows one real iteration: the one whose wall time is the median.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| walls[a].total_cmp(&walls[b]));
    let median_run = &runs[order[order.len() / 2]];
    let steps: Vec<_> = exec.plan.steps.iter().map(|s| s.node).collect();
    let trace = timeline::measured_trace(w, gpu.name(), &steps, &median_run.ops, wall.median_s);
    let fastest = timeline::measured_trace(w, gpu.name(), &steps, &runs[order[0]].ops, wall.min_s);
    let ops = steps
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let durations: Vec<f64> = runs.iter().map(|r| r.ops[i].1 - r.ops[i].0).collect();
            OpTime { name: w.node(n).name.clone(), op: w.node(n).op.kind(), time: Spread::of(&durations) }
        })
        .collect();
    let stats = RunStats {
        adapter: gpu.name().to_string(),
        backend: gpu.backend(),
        timing: exec.timing(),
        iterations: opts.iters,
        warmup: opts.warmup,
        wall,
        ops,
        check,
        torch: None,
        machine: Some(machine),
    };
    Ok(Measured { trace, fastest, stats })
}

/// Checks every op of `w` against the CPU reference on an open device.
#[cfg(feature = "gpu")]
pub fn check_on(gpu: &context::Gpu, w: &Workload, tolerance: f64) -> Result<CheckReport> {
    check::check(&execute::Executor::new(gpu, w)?, w, tolerance)
}

/// Without the `gpu` feature there is nothing to run on.
#[cfg(not(feature = "gpu"))]
pub fn run(_w: &Workload, _opts: &RunOptions) -> Result<Measured> {
    Err(Error::Unsupported(NO_GPU_BACKEND.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_has_median_and_quartiles() {
        let s = Spread::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.median_s, s.min_s, s.max_s, s.p25_s, s.p75_s), (3.0, 1.0, 5.0, 2.0, 4.0));
        assert_eq!(Spread::of(&[2.0, 4.0]).median_s, 3.0);
    }
}
