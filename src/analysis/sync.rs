//! Synchronization at fusion nodes. A join is an op that waits for tensors of two independently computed
//! modality branches (`crate::graph::joins`; WORKLOADS.md §0.1). At a join, each input waits from the moment
//! it is ready until the join starts; the slowest branch waits least.
//!
//! The total **sync wait** is the time during which at least one branch's result sits waiting for another
//! branch of the same join: the length of the union of the intervals `[ready of an input, ready of the
//! join's last input)`. Being a union of time it never exceeds the latency (so its share means something
//! even when many skip connections wait at once, as in mmFormer), and it excludes the launch gap after the
//! last input arrives. Two branches of 3 ms and 1 ms joining: 2 ms. In a serial run (MMBench's eager
//! execution) it is the time earlier encoders' results wait for later ones; with overlapping branches it is
//! the time the faster branches' results wait for the slowest. Branch imbalance compares the encoders' own
//! busy time.

use crate::graph::joins::{branch_sets, find_joins, JoinNode};
use crate::trace::{RecordKind, Trace};
use serde::Serialize;

/// One branch arriving at one join.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchWait {
    /// The modalities the input carries, joined by `+` (`image`, or `image+lidar` for an already fused
    /// tensor).
    pub branch: String,
    pub ready_s: f64,
    pub wait_s: f64,
}

/// One join.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinWait {
    pub name: String,
    pub start_s: f64,
    pub branches: Vec<BranchWait>,
}

/// Synchronization figures of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub joins: Vec<JoinWait>,
    /// Time during which some branch result waits for another branch of its join (union of intervals).
    pub total_wait_s: f64,
    /// Sum over joins and branches of the time each input waits for its join to start (overlaps counted
    /// once per input: can exceed the latency).
    pub summed_wait_s: f64,
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
                BranchWait { branch: label(sets[p as usize]), ready_s: pr.end_s, wait_s: (r.start_s - pr.end_s).max(0.0) }
            })
            .collect();
        joins.push(JoinWait { name: r.name.clone(), start_s: r.start_s, branches });
    }
    let summed_wait_s = joins.iter().flat_map(|j| j.branches.iter()).map(|b| b.wait_s).sum();
    let ready: Vec<Vec<f64>> = joins.iter().map(|j| j.branches.iter().map(|b| b.ready_s).collect()).collect();
    let total_wait_s = waiting_time(ready.iter().map(Vec::as_slice));
    // Busy time of each modality's encoder.
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
    SyncReport { joins, total_wait_s, summed_wait_s, imbalance }
}

/// The sync wait of a set of joins given each join's input ready times: the length of the union of
/// `[ready, last ready of the join)` over all inputs.
pub fn waiting_time<'a>(joins: impl Iterator<Item = &'a [f64]>) -> f64 {
    let mut intervals: Vec<(f64, f64)> = Vec::new();
    for ready in joins {
        let last = ready.iter().copied().fold(f64::MIN, f64::max);
        intervals.extend(ready.iter().filter(|&&r| r < last).map(|&r| (r, last)));
    }
    union_length(&mut intervals)
}

/// Total length of a union of intervals.
pub fn union_length(iv: &mut [(f64, f64)]) -> f64 {
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut total, mut cur): (f64, Option<(f64, f64)>) = (0.0, None);
    for &(a, b) in iv.iter() {
        cur = match cur {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + cur.map_or(0.0, |(s, e)| e - s)
}
