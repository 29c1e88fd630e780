//! What `mmbench run` reports: one result type, rendered as a table, JSON or CSV with the helpers of
//! [`crate::report`]. Stage times come from [`crate::analysis::stage_breakdown`] on the measured trace,
//! exactly as for a prediction.

use super::{CheckReport, Measured, OpTime, Spread};
use crate::analysis::stage_breakdown;
use crate::error::{Error, Result};
use crate::report::{flops_text, thousands, StageRow};
use serde::Serialize;
use std::fmt::Write;

/// How many of the slowest ops the table lists.
const SLOWEST: usize = 10;

/// Everything `mmbench run` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub workload: String,
    pub adapter: String,
    pub backend: String,
    /// `timestamp-query` or `per-op submit (coarse)`.
    pub timing: String,
    pub batch: usize,
    pub iterations: usize,
    pub warmup: usize,
    /// Median end-to-end time of one inference (submit to work done).
    pub latency_ms: f64,
    pub wall_ms: SpreadMs,
    /// Sum of op times in the median iteration.
    pub gpu_busy_ms: f64,
    pub params: u64,
    pub flops: u64,
    pub ops: usize,
    pub stages: Vec<StageRow>,
    /// The fastest iteration, the least disturbed by other work on the machine (what `validate` compares
    /// with by default).
    pub fastest: FastestRun,
    /// Every executed op, in program order.
    pub op_times: Vec<OpRow>,
    pub check: Option<CheckReport>,
    /// The PyTorch backend's kernels, peak memory and environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torch: Option<crate::backend::torch::runner::TorchStats>,
    /// The machine it ran on and its quick probe (`validate` compares them with a calibrated description's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::hardware::machine::MachineRecord>,
}

/// End-to-end and stage times of the fastest iteration.
#[derive(Debug, Clone, Serialize)]
pub struct FastestRun {
    pub latency_ms: f64,
    pub stages: Vec<StageRow>,
}

/// A [`Spread`] in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpreadMs {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub p25: f64,
    pub p75: f64,
}

impl From<Spread> for SpreadMs {
    fn from(s: Spread) -> Self {
        SpreadMs { median: s.median_s * 1e3, min: s.min_s * 1e3, max: s.max_s * 1e3, p25: s.p25_s * 1e3, p75: s.p75_s * 1e3 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpRow {
    pub name: String,
    pub op: String,
    pub stage: String,
    pub modality: Option<String>,
    pub ms: SpreadMs,
    /// Kernels the op launched, as the profiler counted them (PyTorch backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels: Option<u32>,
}

impl RunReport {
    pub fn new(m: &Measured) -> Self {
        let t = &m.trace;
        let latency = t.latency_s;
        let stages = StageRow::rows(stage_breakdown(t), latency);
        // Trace records of ops are in program order, as the op times are.
        let records = t.executed();
        let op_times = m
            .stats
            .ops
            .iter()
            .zip(records)
            .enumerate()
            .map(|(i, (o, r)): (usize, (&OpTime, _))| OpRow {
                name: o.name.clone(),
                op: o.op.clone(),
                stage: r.stage.name().to_string(),
                modality: t.modality_name(r.modality).map(str::to_string),
                ms: o.time.into(),
                kernels: m.stats.torch.as_ref().and_then(|t| t.op_kernels.get(i).copied()),
            })
            .collect();
        RunReport {
            workload: t.workload.clone(),
            adapter: m.stats.adapter.clone(),
            backend: m.stats.backend.clone(),
            timing: m.stats.timing.name().to_string(),
            batch: t.batch,
            iterations: m.stats.iterations,
            warmup: m.stats.warmup,
            latency_ms: latency * 1e3,
            wall_ms: m.stats.wall.into(),
            gpu_busy_ms: t.executed().map(|r| r.duration_s()).sum::<f64>() * 1e3,
            params: t.params,
            flops: t.flops,
            ops: m.stats.ops.len(),
            stages,
            fastest: FastestRun { latency_ms: m.fastest.latency_s * 1e3, stages: StageRow::rows(stage_breakdown(&m.fastest), m.fastest.latency_s) },
            op_times,
            check: m.stats.check.clone(),
            torch: m.stats.torch.clone(),
            machine: m.stats.machine.clone(),
        }
    }
}

pub fn run_table(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} on {} ({}), batch {}", r.workload, r.adapter, r.backend, r.batch);
    let _ = writeln!(s, "  timing: {}, {} iterations after {} warm-up", r.timing, r.iterations, r.warmup);
    let _ = writeln!(s);
    let w = &r.wall_ms;
    let _ = writeln!(s, "end-to-end latency  {:>10.3} ms median (min {:.3}, max {:.3}, IQR {:.3}-{:.3})", r.latency_ms, w.min, w.max, w.p25, w.p75);
    let _ = writeln!(s, "GPU busy            {:>10.3} ms (op times of the median iteration)", r.gpu_busy_ms);
    let _ = writeln!(s, "parameters          {}", thousands(r.params));
    let _ = writeln!(s, "work                {}, {} ops", flops_text(r.flops), r.ops);
    // (On a CPU, ops run inside their calls: there are no device kernels to count.)
    if let Some(t) = r.torch.as_ref().filter(|t| t.kernels > 0 || t.copies > 0) {
        let _ = writeln!(
            s,
            "kernels             {} measured ({} predicted), {:.0}% under 10 us, {} copies, {:.3} ms busy",
            t.kernels,
            t.predicted_kernels,
            t.kernel_share_under_10us * 100.0,
            t.copies,
            t.kernel_ms
        );
        if let Some(b) = t.peak_memory_bytes {
            let _ = writeln!(s, "peak memory         {}", crate::report::bytes_text(b));
        }
    }
    if let Some(m) = &r.machine {
        let host = if m.host_cpu.is_empty() { String::new() } else { format!(", host {} ({} threads)", m.host_cpu, m.host_threads) };
        let probe: Vec<String> = m.probe.iter().map(|(k, v)| format!("{k} {}", crate::report::seconds_text(*v))).collect();
        let probe = if probe.is_empty() { String::new() } else { format!("; quick probe: {}", probe.join(", ")) };
        let _ = writeln!(s, "machine             {} ({}){host}{probe}", m.adapter, m.backend);
    }
    if let Some(t) = &r.torch {
        let _ = writeln!(s, "host to results     {:>10.3} ms median (the final synchronize included)", t.host_ms.median);
        if let Some(ms) = t.issue_ms {
            let _ = writeln!(s, "host issue          {ms:>10.3} ms (each call timed alone inside an inference, medians summed)");
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{:<9} {:<14} {:>10} {:>7} {:>6}", "stage", "modality", "time (ms)", "share", "ops");
    for st in &r.stages {
        let _ = writeln!(s, "{:<9} {:<14} {:>10.3} {:>6.1}% {:>6}", st.stage.name(), st.modality.as_deref().unwrap_or("-"), st.ms, st.share * 100.0, st.ops);
    }
    let mut slow: Vec<&OpRow> = r.op_times.iter().collect();
    slow.sort_by(|a, b| b.ms.median.total_cmp(&a.ms.median));
    let _ = writeln!(s);
    let _ = writeln!(s, "slowest ops (median ms, min-max)");
    for o in slow.iter().take(SLOWEST) {
        let _ = writeln!(s, "  {:>9.4}  {:>9.4}-{:<9.4} {:<16} {}", o.ms.median, o.ms.min, o.ms.max, o.op, o.name);
    }
    if let Some(c) = &r.check {
        let _ = writeln!(s);
        let failures: Vec<_> = c.failures().collect();
        match c.worst() {
            Some(worst) => {
                let _ = writeln!(
                    s,
                    "check: {} ops against the CPU reference, worst relative L2 error {:.2e} at `{}` ({}); {}",
                    c.ops.len(),
                    worst.rel_l2,
                    worst.name,
                    worst.op,
                    if failures.is_empty() { format!("all within {:.0e}", c.tolerance) } else { format!("{} above {:.0e}:", failures.len(), c.tolerance) }
                );
            }
            None => {
                let _ = writeln!(s, "check: no ops to compare");
            }
        }
        for f in failures {
            let _ = writeln!(s, "  {:.2e}  {} unwritten of {}  {} ({})", f.rel_l2, f.unwritten, f.elements, f.name, f.op);
        }
    }
    s
}

/// One row per executed op: its stage and median, min and max time (and check error when checked).
pub fn run_csv(r: &RunReport) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| Error::Unsupported(format!("CSV encoding failed: {e}"));
    w.write_record(["workload", "adapter", "timing", "batch", "name", "op", "stage", "modality", "median_ms", "min_ms", "max_ms", "rel_l2"]).map_err(err)?;
    for (i, o) in r.op_times.iter().enumerate() {
        let rel = r.check.as_ref().and_then(|c| c.ops.get(i)).map(|c| format!("{:e}", c.rel_l2)).unwrap_or_default();
        w.write_record([
            r.workload.as_str(),
            &r.adapter,
            &r.timing,
            &r.batch.to_string(),
            &o.name,
            &o.op,
            &o.stage,
            o.modality.as_deref().unwrap_or(""),
            &format!("{:.6}", o.ms.median),
            &format!("{:.6}", o.ms.min),
            &format!("{:.6}", o.ms.max),
            &rel,
        ])
        .map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Unsupported(format!("CSV encoding failed: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}
