//! Metrics read from any [`crate::trace::Trace`], predicted or measured, grouped by the three traits MMBench
//! characterizes: multi-stage execution (time per stage and modality, the critical path, overlap between
//! branches), synchronization at fusion nodes, and heterogeneity (op-type and kernel-bucket mix, roofline
//! position and utilization, kernel sizes); plus memory. [`characterize`] computes them all for one trace.
//! Numbers only: `report` turns them into tables, files and plots.

pub mod characterization;
pub mod critical_path;
pub mod intervals;
pub mod kernels;
pub mod memory;
pub mod mix;
pub mod overlap;
pub mod roofline;
pub mod stages;
pub mod sync;

pub use characterization::{characterize, Characterization};
pub use critical_path::{critical_path, CriticalPath, PathSegment};
pub use kernels::{kernel_stats, KernelStats, SHORT_KERNEL_S};
pub use memory::{memory_report, DeviceMemory, MemoryPoint, MemoryReport};
pub use mix::{op_mix, KernelBucket, MixEntry, OpMix};
pub use overlap::{branch_overlap, BranchOverlap};
pub use roofline::{roofline, DeviceRoof, OpPoint, Roofline, StageUtilization, OVERHEAD_BOUND_BELOW};
pub use stages::{attribute_time, stage_breakdown, StageTime};
pub use sync::{sync_report, waiting_time, JoinWait, SyncReport};

use crate::graph::Stage;
use crate::trace::Trace;

/// The scopes a per-stage metric reports: each stage that has executed records, in pipeline order, then
/// `None` for the whole inference.
pub fn scopes(t: &Trace) -> Vec<Option<Stage>> {
    let mut out: Vec<Option<Stage>> = Stage::ALL.into_iter().filter(|s| t.executed().any(|r| r.stage == *s)).map(Some).collect();
    out.push(None);
    out
}

/// `encoder`, `fusion`, `head`, or `all` for the whole inference.
pub fn scope_name(scope: Option<Stage>) -> &'static str {
    scope.map_or("all", Stage::name)
}

/// Whether a record falls in a scope.
pub(crate) fn in_scope(scope: Option<Stage>, stage: Stage) -> bool {
    scope.is_none_or(|s| s == stage)
}

/// Hand-built traces with known answers.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::graph::{OpClass, Stage};
    use crate::trace::{OpRecord, RecordKind, Trace, TraceSource};

    /// An op record; times in milliseconds.
    pub fn op(name: &str, stage: Stage, modality: Option<u16>, stream: u32, start_ms: f64, end_ms: f64, inputs: &[u32]) -> OpRecord {
        OpRecord {
            name: name.into(),
            op: "linear".into(),
            kind: RecordKind::Op,
            class: OpClass::Matmul,
            stage,
            modality,
            device: 0,
            stream,
            start_s: start_ms * 1e-3,
            end_s: end_ms * 1e-3,
            flops: 0,
            bytes: 0,
            kernels: 1,
            inputs: inputs.to_vec(),
            out_bytes: 0,
            host_s: 0.0,
        }
    }

    /// `r` with an op type, class, work and kernel count.
    pub fn work(mut r: OpRecord, op: &str, class: OpClass, flops: u64, bytes: u64, kernels: u32) -> OpRecord {
        r.op = op.into();
        r.class = class;
        r.flops = flops;
        r.bytes = bytes;
        r.kernels = kernels;
        r
    }

    /// `r` producing a tensor of `out_bytes`.
    pub fn out(mut r: OpRecord, out_bytes: u64) -> OpRecord {
        r.out_bytes = out_bytes;
        r
    }

    /// Equal to within a picosecond (or a millionth of a millionth, for shares).
    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    pub fn trace(ops: Vec<OpRecord>, latency_ms: f64) -> Trace {
        Trace {
            workload: "t".into(),
            hardware: "h".into(),
            runtime: "r".into(),
            batch: 1,
            source: TraceSource::Predicted,
            devices: vec!["gpu".into()],
            modalities: vec!["a".into(), "b".into()],
            ops,
            latency_s: latency_ms * 1e-3,
            params: 0,
            flops: 0,
        }
    }

    /// Branch a (3 ms) and branch b (1 ms) on two streams from t = 0, joined by a 0.5 ms fusion op at 3 ms,
    /// then a 0.5 ms head; latency 4 ms.
    pub fn two_branches() -> Trace {
        trace(
            vec![
                op("a", Stage::Encoder, Some(0), 1, 0.0, 3.0, &[]),
                op("b", Stage::Encoder, Some(1), 2, 0.0, 1.0, &[]),
                op("fuse", Stage::Fusion, None, 0, 3.0, 3.5, &[0, 1]),
                op("head", Stage::Head, None, 0, 3.5, 4.0, &[2]),
            ],
            4.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::graph::Stage;

    #[test]
    fn two_branches_of_3_and_1_ms_wait_2_ms_with_imbalance_3() {
        let r = sync_report(&two_branches());
        assert_eq!(r.joins.len(), 1);
        assert_eq!(r.joins[0].name, "fuse");
        assert!(close(r.total_wait_s, 2e-3), "{}", r.total_wait_s);
        assert!(close(r.imbalance, 3.0));
        let b = r.joins[0].branches.iter().find(|b| b.branch == "b").unwrap();
        assert!(close(b.wait_s, 2e-3));
    }

    #[test]
    fn a_modality_with_only_an_input_copy_is_not_an_imbalanced_branch() {
        // Branch b has no encoder op, only the copy of its input: the imbalance compares a with nothing.
        let mut copy = op("copy b -> gpu", Stage::Encoder, Some(1), 0, 0.0, 0.01, &[]);
        copy.kind = crate::trace::RecordKind::Transfer;
        let t = trace(vec![op("a", Stage::Encoder, Some(0), 0, 0.01, 3.0, &[]), copy, op("fuse", Stage::Fusion, None, 0, 3.0, 3.5, &[0, 1])], 3.5);
        assert!(close(sync_report(&t).imbalance, 1.0));
    }

    #[test]
    fn a_second_exchange_between_the_same_streams_is_a_join_too() {
        // a and b fuse at 1 ms, each stream continues with the fused result (tagged with its own modality),
        // and they fuse again: two joins, although every input of the second already depends on both.
        let t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 0, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 0, 0.0, 1.0, &[]),
                op("fuse1", Stage::Fusion, None, 0, 1.0, 1.5, &[0, 1]),
                op("a2", Stage::Encoder, Some(0), 0, 1.5, 2.5, &[2]),
                op("b2", Stage::Encoder, Some(1), 0, 2.5, 3.0, &[2]),
                op("fuse2", Stage::Fusion, None, 0, 3.0, 3.5, &[3, 4]),
            ],
            3.5,
        );
        let r = sync_report(&t);
        let names: Vec<&str> = r.joins.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["fuse1", "fuse2"]);
        let a2 = r.joins[1].branches.iter().find(|b| b.branch == "a").unwrap();
        assert!(close(a2.wait_s, 0.5e-3), "a2 ends at 2.5 ms and waits for b2");
    }

    #[test]
    fn overlapping_branches_share_time_and_parts_sum_to_latency() {
        let s = stage_breakdown(&two_branches());
        let get = |st: Stage, m: Option<&str>| s.iter().find(|x| x.stage == st && x.modality.as_deref() == m).unwrap().seconds;
        // 0-1 ms: a and b overlap, 0.5 ms each; 1-3 ms: a alone.
        assert!(close(get(Stage::Encoder, Some("a")), 2.5e-3));
        assert!(close(get(Stage::Encoder, Some("b")), 0.5e-3));
        assert!(close(get(Stage::Fusion, None), 0.5e-3));
        assert!(close(get(Stage::Head, None), 0.5e-3));
        let total: f64 = s.iter().map(|x| x.seconds).sum();
        assert!(close(total, 4e-3));
        let shares: f64 = s.iter().map(|x| x.share).sum();
        assert!(close(shares, 1.0));
        assert!(close(s[0].share, 2.5 / 4.0));
    }

    #[test]
    fn idle_gaps_go_to_the_next_op_and_the_tail_to_the_last() {
        // Serial: a 0-1, gap, b 2-3, fuse 3-4, sync tail to 4.5.
        let t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 0, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 0, 2.0, 3.0, &[]),
                op("fuse", Stage::Fusion, None, 0, 3.0, 4.0, &[0, 1]),
            ],
            4.5,
        );
        let s = stage_breakdown(&t);
        assert!(close(s[0].seconds, 1e-3));
        assert!(close(s[1].seconds, 2e-3));
        assert!(close(s[2].seconds, 1.5e-3));
        // Serial execution: a's output waits 2 ms for b's; b's none.
        let r = sync_report(&t);
        assert!(close(r.total_wait_s, 2e-3));
        assert!(close(r.summed_wait_s, 2e-3));
    }

    #[test]
    fn overlapping_waits_are_counted_once() {
        // Two joins whose waits overlap in time: a (0-1) and b (0-3) join at 3; c (0-2) and d (0-4) join at 4.
        // Waits: [1, 3) and [2, 4): union 3 ms, sum 4 ms.
        let t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 1, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 2, 0.0, 3.0, &[]),
                op("j1", Stage::Fusion, None, 0, 3.0, 3.1, &[0, 1]),
                op("c", Stage::Encoder, Some(0), 3, 0.0, 2.0, &[]),
                op("d", Stage::Encoder, Some(1), 4, 0.0, 4.0, &[]),
                op("j2", Stage::Fusion, None, 0, 4.0, 4.1, &[3, 4]),
            ],
            4.1,
        );
        let r = sync_report(&t);
        assert_eq!(r.joins.len(), 2);
        assert!(close(r.total_wait_s, 3e-3), "{}", r.total_wait_s);
        assert!(close(r.summed_wait_s, 4e-3), "{}", r.summed_wait_s);
    }

    #[test]
    fn critical_path_follows_the_slowest_branch() {
        let cp = critical_path(&two_branches());
        let stages: Vec<(Stage, Option<String>)> = cp.segments.iter().map(|s| (s.stage, s.modality.clone())).collect();
        assert_eq!(stages, [(Stage::Encoder, Some("a".to_string())), (Stage::Fusion, None), (Stage::Head, None)]);
        assert!(close(cp.busy_s, 4e-3));
        assert!(close(cp.overhead_s, 0.0));
        assert!(cp.describe().starts_with("a encoder 3.000 ms -> fusion"), "{}", cp.describe());
    }
}
