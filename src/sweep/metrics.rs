//! The figures a sweep records per configuration, computed straight from the simulator's plan and schedule
//! (no trace is built: sweeps evaluate thousands of configurations per second).

use crate::analysis::{attribute_time, waiting_time};
use crate::graph::{Stage, Workload};
use crate::hardware::Hardware;
use crate::predict::{Plan, Schedule};
use crate::trace::RecordKind;
use petgraph::graph::NodeIndex;

/// A recordable metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    LatencyMs,
    ThroughputSps,
    EncoderMs,
    FusionMs,
    HeadMs,
    SlowestEncoder,
    SyncWaitMs,
    SyncShare,
    Kernels,
    Params,
    Gflop,
    PeakMemoryGb,
    FitsMemory,
    TdpW,
    DieMm2,
    EnergyMj,
}

impl Metric {
    pub const ALL: [Metric; 16] = [
        Metric::LatencyMs,
        Metric::ThroughputSps,
        Metric::EncoderMs,
        Metric::FusionMs,
        Metric::HeadMs,
        Metric::SlowestEncoder,
        Metric::SyncWaitMs,
        Metric::SyncShare,
        Metric::Kernels,
        Metric::Params,
        Metric::Gflop,
        Metric::PeakMemoryGb,
        Metric::FitsMemory,
        Metric::TdpW,
        Metric::DieMm2,
        Metric::EnergyMj,
    ];

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::LatencyMs => "latency_ms",
            Metric::ThroughputSps => "throughput_sps",
            Metric::EncoderMs => "encoder_ms",
            Metric::FusionMs => "fusion_ms",
            Metric::HeadMs => "head_ms",
            Metric::SlowestEncoder => "slowest_encoder",
            Metric::SyncWaitMs => "sync_wait_ms",
            Metric::SyncShare => "sync_share",
            Metric::Kernels => "kernels",
            Metric::Params => "params",
            Metric::Gflop => "gflop",
            Metric::PeakMemoryGb => "peak_memory_gb",
            Metric::FitsMemory => "fits_memory",
            Metric::TdpW => "tdp_w",
            Metric::DieMm2 => "die_mm2",
            Metric::EnergyMj => "energy_mj",
        }
    }

    /// What the column holds (for the README).
    pub fn description(self) -> &'static str {
        match self {
            Metric::LatencyMs => "end-to-end latency of one inference",
            Metric::ThroughputSps => "samples per second (batch / latency)",
            Metric::EncoderMs => "time attributed to all encoders",
            Metric::FusionMs => "time attributed to the fusion stage",
            Metric::HeadMs => "time attributed to the head",
            Metric::SlowestEncoder => "the modality whose encoder takes longest",
            Metric::SyncWaitMs => "time branch results wait for another branch at fusion nodes",
            Metric::SyncShare => "sync wait / latency",
            Metric::Kernels => "kernel launches per inference",
            Metric::Params => "registered parameters",
            Metric::Gflop => "GFLOP per inference",
            Metric::PeakMemoryGb => "parameters + peak live activations, GB",
            Metric::FitsMemory => "peak memory fits the default device's memory",
            Metric::TdpW => "sum of the TDP of the devices used (empty when unknown)",
            Metric::DieMm2 => "sum of the die area of the devices used (empty when unknown)",
            Metric::EnergyMj => "latency x TDP: an upper bound of the energy, millijoules",
        }
    }

    pub fn from_name(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether values are numbers (Pareto objectives must be).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Metric::SlowestEncoder | Metric::FitsMemory)
    }
}

/// A recorded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
    Missing,
}

impl Value {
    /// CSV text: numbers in Rust's shortest round-trip form, so output is byte-identical run to run.
    pub fn text(&self) -> String {
        match self {
            Value::Num(x) => format!("{x}"),
            Value::Text(s) => s.clone(),
            Value::Missing => String::new(),
        }
    }
}

/// What depends only on the workload, computed once per built workload.
#[derive(Debug)]
pub struct WorkloadFacts {
    pub joins: Vec<NodeIndex>,
    pub params: u64,
    pub flops: u64,
    pub kernels: u64,
    pub peak_memory_bytes: u64,
}

impl WorkloadFacts {
    pub fn new(w: &Workload) -> Self {
        WorkloadFacts {
            joins: w.joins(),
            params: w.params(),
            flops: w.flops(),
            kernels: w.kernels(),
            peak_memory_bytes: w.peak_activation_bytes() + 4 * (w.params() + w.unregistered_params()),
        }
    }
}

/// Computes the requested metrics of one simulated configuration.
pub fn compute(metrics: &[Metric], w: &Workload, facts: &WorkloadFacts, hw: &Hardware, plan: &Plan, s: &Schedule) -> Vec<Value> {
    let latency = s.latency_s;
    let needs_stages = metrics.iter().any(|m| matches!(m, Metric::EncoderMs | Metric::FusionMs | Metric::HeadMs | Metric::SlowestEncoder));
    let mut stage_s = [0.0f64; 3];
    let mut encoder_s = vec![0.0f64; w.modalities.len()];
    if needs_stages {
        let intervals: Vec<(f64, f64)> =
            plan.ops.iter().enumerate().map(|(i, o)| if o.kind == RecordKind::Input { (0.0, 0.0) } else { (s.start_s[i], s.end_s[i]) }).collect();
        let attributed = attribute_time(&intervals, latency);
        for (o, t) in plan.ops.iter().zip(attributed) {
            stage_s[o.stage as usize] += t;
            if let (Stage::Encoder, Some(m)) = (o.stage, o.modality) {
                encoder_s[m as usize] += t;
            }
        }
    }
    let sync_s = if metrics.iter().any(|m| matches!(m, Metric::SyncWaitMs | Metric::SyncShare)) {
        let mut op_of = vec![u32::MAX; w.len()];
        for (k, o) in plan.ops.iter().enumerate() {
            if let (RecordKind::Op, Some(n)) = (o.kind, o.node) {
                op_of[n as usize] = k as u32;
            }
        }
        let ready: Vec<Vec<f64>> = facts
            .joins
            .iter()
            .filter_map(|j| op_of.get(j.index()).copied().filter(|&k| k != u32::MAX))
            .map(|k| plan.deps_of(k as usize).iter().map(|&d| s.end_s[d as usize]).collect())
            .collect();
        waiting_time(ready.iter().map(Vec::as_slice))
    } else {
        0.0
    };
    let mut used: Vec<usize> = plan.ops.iter().filter(|o| o.kind == RecordKind::Op).map(|o| o.device as usize).collect();
    used.sort_unstable();
    used.dedup();
    let sum_of = |f: fn(&crate::hardware::Device) -> Option<f64>| -> Value {
        let vals: Vec<f64> = used.iter().filter_map(|&d| f(&hw.devices[d])).collect();
        if vals.is_empty() { Value::Missing } else { Value::Num(vals.iter().sum()) }
    };
    metrics
        .iter()
        .map(|m| match m {
            Metric::LatencyMs => Value::Num(latency * 1e3),
            Metric::ThroughputSps => Value::Num(if latency > 0.0 { w.batch as f64 / latency } else { 0.0 }),
            Metric::EncoderMs => Value::Num(stage_s[Stage::Encoder as usize] * 1e3),
            Metric::FusionMs => Value::Num(stage_s[Stage::Fusion as usize] * 1e3),
            Metric::HeadMs => Value::Num(stage_s[Stage::Head as usize] * 1e3),
            Metric::SlowestEncoder => encoder_s
                .iter()
                .enumerate()
                .filter(|(_, t)| **t > 0.0)
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(Value::Missing, |(m, _)| Value::Text(w.modalities[m].clone())),
            Metric::SyncWaitMs => Value::Num(sync_s * 1e3),
            Metric::SyncShare => Value::Num(if latency > 0.0 { sync_s / latency } else { 0.0 }),
            Metric::Kernels => Value::Num(facts.kernels as f64),
            Metric::Params => Value::Num(facts.params as f64),
            Metric::Gflop => Value::Num(facts.flops as f64 / 1e9),
            Metric::PeakMemoryGb => Value::Num(facts.peak_memory_bytes as f64 / 1e9),
            Metric::FitsMemory => Value::Text((facts.peak_memory_bytes as f64 <= hw.devices[hw.default_device].mem_gb * 1e9).to_string()),
            Metric::TdpW => sum_of(|d| d.tdp_w),
            Metric::DieMm2 => sum_of(|d| d.die_mm2),
            Metric::EnergyMj => match sum_of(|d| d.tdp_w) {
                Value::Num(w) => Value::Num(w * latency * 1e3),
                other => other,
            },
        })
        .collect()
}
