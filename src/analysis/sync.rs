//! Synchronization at fusion nodes. A join is an op that waits for tensors of two independently computed
//! modality branches (`crate::graph::joins`; WORKLOADS.md §0.1). At a join, each input waits from the moment
//! it is ready until the join starts; the slowest branch waits least.
//!
//! The total **sync wait** is the time during which at least one branch's result sits waiting for another
//! branch of the same join: the length of the union of the intervals `[ready of an input, ready of the
//! join's last input)`. Being a union of time it never exceeds the latency, so its share of the latency (the
//! sync cost share) means something even when many skip connections wait at once, as in mmFormer. Two
//! branches of 3 ms and 1 ms joining: 2 ms. In a serial run (MMBench's eager execution) it is the time
//! earlier encoders' results wait for later ones; with overlapping branches, the time the faster branches'
//! results wait for the slowest. The **join delay** is what comes after the last input is ready (event
//! waits, stream synchronization, or the host issuing the join late). Branch imbalance compares the
//! encoders' own busy time.

use super::intervals::union_s;
use crate::graph::joins::{branch_sets, find_joins, JoinNode};
use crate::trace::{RecordKind, Trace};
use serde::Serialize;

/// One branch arriving at one join.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchWait {
    /// The record that produced the input.
    pub record: u32,
    /// The modalities the input carries, joined by `+` (`image`, or `image+lidar` for an already fused
    /// tensor).
    pub branch: String,
    pub ready_s: f64,
    pub wait_s: f64,
}

/// One join.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinWait {
    /// The join's record.
    pub record: u32,
    pub name: String,
    pub start_s: f64,
    pub branches: Vec<BranchWait>,
}

/// Synchronization figures of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub joins: Vec<JoinWait>,
    /// Number of sync points: the joins.
    pub sync_points: usize,
    /// Time during which some branch result waits for another branch of its join (union of intervals).
    pub total_wait_s: f64,
    /// `total_wait_s` over the end-to-end latency: the sync cost share.
    pub wait_share: f64,
    /// Sum over joins and branches of the time each input waits for its join to start (overlaps counted
    /// once per input: can exceed the latency).
    pub summed_wait_s: f64,
    /// Sum over joins of the time from the last input being ready to the join starting.
    pub join_delay_s: f64,
    /// Slowest over fastest encoder, by the busy time of each modality's encoder ops (1 with one modality).
    pub imbalance: f64,
}

/// Joins, waits and imbalance of a trace.
pub fn sync_report(t: &Trace) -> SyncReport {
    let nodes: Vec<JoinNode> = t.ops.iter().map(|r| JoinNode { inputs: &r.inputs, modality: r.modality, constant: false }).collect();
    let sets = branch_sets(&nodes);
    let label = |s: u64| -> String {
        let names: Vec<&str> = (0..64).filter(|b| s & (1 << b) != 0).filter_map(|b| t.modalities.get(b).map(String::as_str)).collect();
        names.join("+")
    };
    let mut joins = Vec::new();
    for j in find_joins(&nodes) {
        let r = &t.ops[j];
        // A copy is not a join; its consumer is.
        if r.kind != RecordKind::Op {
            continue;
        }
        let branches = r
            .inputs
            .iter()
            .map(|&p| {
                let pr = &t.ops[p as usize];
                BranchWait { record: p, branch: label(sets[p as usize]), ready_s: pr.end_s, wait_s: (r.start_s - pr.end_s).max(0.0) }
            })
            .collect();
        joins.push(JoinWait { record: j as u32, name: r.name.clone(), start_s: r.start_s, branches });
    }
    let summed_wait_s = joins.iter().flat_map(|j| j.branches.iter()).map(|b| b.wait_s).sum();
    let ready: Vec<Vec<f64>> = joins.iter().map(|j| j.branches.iter().map(|b| b.ready_s).collect()).collect();
    let total_wait_s = waiting_time(ready.iter().map(Vec::as_slice));
    let join_delay_s = joins
        .iter()
        .map(|j| {
            let last_ready = j.branches.iter().map(|b| b.ready_s).fold(f64::MIN, f64::max);
            (j.start_s - last_ready).max(0.0)
        })
        .sum();
    // Busy time of each modality's encoder ops; input copies are not encoder work, so a modality that is
    // only an input (TransFuser's target point) does not count as a branch of almost zero time.
    let mut busy = vec![0.0f64; t.modalities.len()];
    for r in t.ops.iter().filter(|r| r.kind == RecordKind::Op) {
        if let (crate::graph::Stage::Encoder, Some(m)) = (r.stage, r.modality) {
            busy[m as usize] += r.duration_s();
        }
    }
    let present: Vec<f64> = busy.into_iter().filter(|&b| b > 0.0).collect();
    let imbalance = match (present.iter().copied().reduce(f64::max), present.iter().copied().reduce(f64::min)) {
        (Some(hi), Some(lo)) if lo > 0.0 => hi / lo,
        _ => 1.0,
    };
    SyncReport {
        sync_points: joins.len(),
        joins,
        total_wait_s,
        wait_share: if t.latency_s > 0.0 { total_wait_s / t.latency_s } else { 0.0 },
        summed_wait_s,
        join_delay_s,
        imbalance,
    }
}

/// The sync wait of a set of joins given each join's input ready times: the length of the union of
/// `[ready, last ready of the join)` over all inputs.
pub fn waiting_time<'a>(joins: impl Iterator<Item = &'a [f64]>) -> f64 {
    let mut intervals: Vec<(f64, f64)> = Vec::new();
    for ready in joins {
        let last = ready.iter().copied().fold(f64::MIN, f64::max);
        intervals.extend(ready.iter().map(|&r| (r, last)));
    }
    union_s(intervals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use crate::graph::Stage;

    #[test]
    fn two_branches_of_3_and_1_ms_spend_half_the_latency_waiting() {
        let r = sync_report(&two_branches());
        assert_eq!(r.sync_points, 1);
        assert_eq!(r.joins[0].record, 2);
        assert_eq!(r.joins[0].branches.iter().map(|b| b.record).collect::<Vec<_>>(), [0, 1]);
        // b waits from 1 ms to 3 ms of a 4 ms inference; a arrives just in time.
        assert!(close(r.total_wait_s, 2e-3));
        assert!(close(r.wait_share, 0.5));
        assert!(close(r.join_delay_s, 0.0));
    }

    #[test]
    fn concurrent_waits_count_once_and_a_late_join_start_is_a_delay() {
        // Three branches end at 1, 2 and 3 ms; the join starts at 3.2 ms.
        let mut t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 1, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 2, 0.0, 2.0, &[]),
                op("c", Stage::Encoder, Some(2), 3, 0.0, 3.0, &[]),
                op("fuse", Stage::Fusion, None, 0, 3.2, 4.0, &[0, 1, 2]),
            ],
            4.0,
        );
        t.modalities.push("c".into());
        let r = sync_report(&t);
        // Waits until the last input: a [1, 3), b [2, 3): 2 ms of wall time; to the join start: 2.2 + 1.2 + 0.2.
        assert!(close(r.total_wait_s, 2e-3), "{}", r.total_wait_s);
        assert!(close(r.summed_wait_s, 3.6e-3), "{}", r.summed_wait_s);
        assert!(close(r.wait_share, 0.5));
        assert!(close(r.join_delay_s, 0.2e-3));
    }

    #[test]
    fn each_join_is_a_sync_point() {
        // a and b join first; their fused output joins c later. A consumer of one modality is no join.
        let mut t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 0, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 0, 1.0, 2.0, &[]),
                op("c", Stage::Encoder, Some(2), 0, 2.0, 3.0, &[]),
                op("ab", Stage::Fusion, None, 0, 3.0, 3.5, &[0, 1]),
                op("abc", Stage::Fusion, None, 0, 3.5, 4.0, &[3, 2]),
                op("head", Stage::Head, None, 0, 4.0, 4.5, &[4]),
            ],
            4.5,
        );
        t.modalities.push("c".into());
        let r = sync_report(&t);
        assert_eq!(r.sync_points, 2);
        let names: Vec<&str> = r.joins.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["ab", "abc"]);
        assert_eq!(r.joins[1].branches[0].branch, "a+b");
    }
}
