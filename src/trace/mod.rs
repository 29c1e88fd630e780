//! The shared result of a predicted or a measured run: one record per executed op (device, stream, start,
//! end, stage, modality, FLOPs, bytes) plus end-to-end figures. Everything downstream reads a `Trace` and does
//! not care who wrote it.

use crate::graph::{OpClass, Stage};
use serde::{Deserialize, Serialize};

/// Who produced a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TraceSource {
    /// The simulator, with the runtime it assumed.
    Predicted,
    /// A real execution, on the named adapter or machine.
    Measured { adapter: String },
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An input tensor becoming available in host memory (zero duration).
    Input,
    /// An op of the workload.
    Op,
    /// A copy between devices.
    Transfer,
}

/// One executed op. Times are seconds from the start of the inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    pub name: String,
    /// The op type (`conv2d`, `linear`, `transfer`, `input`).
    pub op: String,
    pub kind: RecordKind,
    pub class: OpClass,
    pub stage: Stage,
    /// Index into [`Trace::modalities`].
    pub modality: Option<u16>,
    /// Index into [`Trace::devices`] (for a transfer: the destination).
    pub device: u16,
    pub stream: u32,
    pub start_s: f64,
    pub end_s: f64,
    pub flops: u64,
    pub bytes: u64,
    pub kernels: u32,
    /// Records whose outputs this one consumes.
    pub inputs: Vec<u32>,
    /// Size of the tensor this record produces (an op's output, a copy's payload, an input), in bytes; 0 when
    /// the producer of the trace does not know it. The memory timeline reads it.
    #[serde(default)]
    pub out_bytes: u64,
    /// Host time the issuing thread spends on this record's call, seconds: in a prediction the plan's host
    /// cost, and for a blocking op (a copy from pageable memory, host work) the wait until it ends; 0 where
    /// the trace's producer does not know it.
    #[serde(default)]
    pub host_s: f64,
}

impl OpRecord {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }

    /// Whether the record is device work of the network: an op, not a copy, an input arrival or opaque host
    /// work outside the network (which no kernel profiler would list).
    pub fn is_kernel_work(&self) -> bool {
        self.kind == RecordKind::Op && self.class != crate::graph::OpClass::Host
    }
}

/// A run, predicted or measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub workload: String,
    pub hardware: String,
    pub runtime: String,
    pub batch: usize,
    pub source: TraceSource,
    pub devices: Vec<String>,
    pub modalities: Vec<String>,
    pub ops: Vec<OpRecord>,
    /// End-to-end latency of one inference, seconds (includes the final synchronization).
    pub latency_s: f64,
    /// Registered parameters and total FLOPs of the workload.
    pub params: u64,
    pub flops: u64,
}

impl Trace {
    pub fn modality_name(&self, m: Option<u16>) -> Option<&str> {
        m.map(|i| self.modalities[i as usize].as_str())
    }

    /// Records that are ops or transfers (not input arrivals).
    pub fn executed(&self) -> impl Iterator<Item = &OpRecord> {
        self.ops.iter().filter(|r| r.kind != RecordKind::Input)
    }

    /// Checks internal consistency: times ordered and finite, indices in range, dependencies respected.
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.ops.iter().enumerate() {
            if !(r.start_s.is_finite() && r.end_s.is_finite() && r.start_s >= 0.0 && r.end_s >= r.start_s) {
                return Err(format!("record {i} `{}` has bad times [{}, {}]", r.name, r.start_s, r.end_s));
            }
            if r.device as usize >= self.devices.len() {
                return Err(format!("record {i} `{}` names device {} of {}", r.name, r.device, self.devices.len()));
            }
            if let Some(m) = r.modality
                && m as usize >= self.modalities.len() {
                    return Err(format!("record {i} `{}` names modality {m} of {}", r.name, self.modalities.len()));
                }
            for &p in &r.inputs {
                let Some(pr) = self.ops.get(p as usize) else {
                    return Err(format!("record {i} `{}` consumes record {p}, which does not exist", r.name));
                };
                if pr.end_s > r.start_s + 1e-12 {
                    return Err(format!("record {i} `{}` starts at {} before its input `{}` ends at {}", r.name, r.start_s, pr.name, pr.end_s));
                }
            }
        }
        if !(self.latency_s.is_finite() && self.latency_s >= 0.0) {
            return Err(format!("bad latency {}", self.latency_s));
        }
        Ok(())
    }
}
