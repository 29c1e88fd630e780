//! Synchronization at fusion nodes. A join is the first op that consumes tensors coming from two or more
//! modalities (WORKLOADS.md §0.1). At a join, each input branch waits from the moment its tensor is ready to
//! the moment the join starts; the slowest branch waits least. Branch imbalance compares the encoders' own
//! busy time. The sync cost share of latency is the wall-clock time during which some finished branch waits
//! at a join, over the latency: the part of the inference that exists only because branches finish at
//! different times.

use super::intervals::union_s;
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
    /// Sum over joins and branches of the time inputs wait for the join to start.
    pub total_wait_s: f64,
    /// Slowest over fastest encoder, by the busy time of each modality's encoder ops (1 with one modality).
    pub imbalance: f64,
    /// Number of sync points: the joins.
    pub sync_points: usize,
    /// Wall-clock time during which at least one finished branch waits at a join: the union over joins and
    /// branches of [input ready, join start]. Unlike `total_wait_s` it counts concurrent waits once.
    pub wait_wall_s: f64,
    /// `wait_wall_s` over the end-to-end latency: the sync cost share of latency.
    pub wait_share: f64,
    /// Sum over joins of the time from the last input being ready to the join starting: what even the
    /// slowest branch pays (event waits, stream synchronization, or just the host issuing the join late).
    pub join_delay_s: f64,
}

/// Modality set (bit per modality) of every record.
fn modality_sets(t: &Trace) -> Vec<u64> {
    let mut sets = vec![0u64; t.ops.len()];
    for (i, r) in t.ops.iter().enumerate() {
        let mut s = r.modality.map_or(0, |m| 1u64 << m.min(63));
        for &p in &r.inputs {
            s |= sets[p as usize];
        }
        sets[i] = s;
    }
    sets
}

/// Joins, waits and imbalance of a trace.
pub fn sync_report(t: &Trace) -> SyncReport {
    let sets = modality_sets(t);
    let label = |s: u64| -> String {
        let names: Vec<&str> = (0..64).filter(|b| s & (1 << b) != 0).filter_map(|b| t.modalities.get(b).map(String::as_str)).collect();
        names.join("+")
    };
    let mut joins = Vec::new();
    for (i, r) in t.ops.iter().enumerate() {
        // A copy is not a join; its consumer is.
        if r.kind != RecordKind::Op || r.inputs.len() < 2 {
            continue;
        }
        let union = r.inputs.iter().fold(0u64, |a, &p| a | sets[p as usize]);
        if union.count_ones() < 2 || r.inputs.iter().any(|&p| sets[p as usize] == union) {
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
        joins.push(JoinWait { record: i as u32, name: r.name.clone(), start_s: r.start_s, branches });
    }
    let total_wait_s = joins.iter().flat_map(|j| j.branches.iter()).map(|b| b.wait_s).sum();
    let wait_wall_s = union_s(joins.iter().flat_map(|j| j.branches.iter().map(|b| (b.ready_s, j.start_s))).collect());
    let join_delay_s = joins
        .iter()
        .map(|j| {
            let last_ready = j.branches.iter().map(|b| b.ready_s).fold(f64::MIN, f64::max);
            (j.start_s - last_ready).max(0.0)
        })
        .sum();
    // Busy time of each modality's encoder.
    let mut busy = vec![0.0f64; t.modalities.len()];
    for r in t.ops.iter() {
        if let (crate::graph::Stage::Encoder, Some(m)) = (r.stage, r.modality) {
            busy[m as usize] += r.duration_s();
        }
    }
    let present: Vec<f64> = busy.into_iter().filter(|&b| b > 0.0).collect();
    let imbalance = match (present.iter().copied().reduce(f64::max), present.iter().copied().reduce(f64::min)) {
        (Some(hi), Some(lo)) if lo > 0.0 => hi / lo,
        _ => 1.0,
    };
    let wait_share = if t.latency_s > 0.0 { wait_wall_s / t.latency_s } else { 0.0 };
    SyncReport { sync_points: joins.len(), joins, total_wait_s, imbalance, wait_wall_s, wait_share, join_delay_s }
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
        assert!(close(r.wait_wall_s, 2e-3));
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
        // Waits: a 2.2 ms, b 1.2 ms, c 0.2 ms.
        assert!(close(r.total_wait_s, 3.6e-3), "{}", r.total_wait_s);
        assert!(close(r.wait_wall_s, 2.2e-3), "{}", r.wait_wall_s);
        assert!(close(r.wait_share, 0.55));
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
