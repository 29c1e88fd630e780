//! All the metrics of one trace together: what `mmbench characterize` reports for every workload and
//! hardware, whether the trace was predicted or measured. The hardware description supplies only the peaks
//! the roofline needs.

use super::*;
use crate::hardware::Hardware;
use crate::trace::TraceSource;
use serde::Serialize;

/// The three MMBench traits (multi-stage execution, synchronization, heterogeneity) and memory, for one
/// trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Characterization {
    pub workload: String,
    pub hardware: String,
    pub runtime: String,
    pub batch: usize,
    pub source: TraceSource,
    pub modalities: Vec<String>,
    pub latency_s: f64,
    pub flops: u64,
    // Multi-stage execution.
    pub stages: Vec<StageTime>,
    pub critical_path: CriticalPath,
    pub overlap: BranchOverlap,
    // Synchronization.
    pub sync: SyncReport,
    // Heterogeneity.
    pub mix: OpMix,
    pub roofline: Roofline,
    pub kernels: Vec<KernelStats>,
    pub memory: MemoryReport,
}

impl Characterization {
    /// Kernel figures of the whole inference.
    pub fn all_kernels(&self) -> Option<&KernelStats> {
        self.kernels.iter().find(|k| k.stage.is_none())
    }

    /// Roofline figures of the whole inference.
    pub fn all_utilization(&self) -> Option<&StageUtilization> {
        self.roofline.stages.iter().find(|s| s.stage.is_none())
    }

    /// Index of a modality, for colors that stay the same across plots.
    pub fn modality_index(&self, name: Option<&str>) -> Option<usize> {
        name.and_then(|n| self.modalities.iter().position(|m| m == n))
    }

    /// Time share of one stage, summed over its modalities.
    pub fn stage_share(&self, stage: crate::graph::Stage) -> f64 {
        self.stages.iter().filter(|s| s.stage == stage).map(|s| s.share).sum()
    }
}

/// Every metric of `t`, with the roofs of `hw`'s devices.
pub fn characterize(t: &Trace, hw: &Hardware) -> Characterization {
    Characterization {
        workload: t.workload.clone(),
        hardware: t.hardware.clone(),
        runtime: t.runtime.clone(),
        batch: t.batch,
        source: t.source.clone(),
        modalities: t.modalities.clone(),
        latency_s: t.latency_s,
        flops: t.flops,
        stages: stage_breakdown(t),
        critical_path: critical_path(t),
        overlap: branch_overlap(t),
        sync: sync_report(t),
        mix: op_mix(t),
        roofline: roofline(t, &DeviceRoof::for_trace(t, hw)),
        kernels: kernel_stats(t),
        memory: memory_report(t),
    }
}
