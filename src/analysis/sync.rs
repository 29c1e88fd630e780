//! Synchronization at fusion nodes. A join is the first op that consumes tensors coming from two or more
//! modality branches (WORKLOADS.md §0.1), with branches as `Workload::branch_sets` defines them. At a join,
//! each input branch waits from the moment its tensor is ready to the moment the join starts; the slowest
//! branch waits least. Branch imbalance compares the encoders' own busy time.

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
    /// Sum over joins and branches of the time inputs wait for the join to start.
    pub total_wait_s: f64,
    /// Slowest over fastest encoder, by the busy time of each modality's encoder ops (1 with one modality).
    pub imbalance: f64,
}

/// Branch set (bit per modality) of every record: its own modality when it has one, else the union of its
/// inputs' sets (a stream that received fused features is still its own branch).
fn branch_sets(t: &Trace) -> Vec<u64> {
    let mut sets = vec![0u64; t.ops.len()];
    for (i, r) in t.ops.iter().enumerate() {
        sets[i] = match r.modality {
            Some(m) => 1u64 << m.min(63),
            None => r.inputs.iter().fold(0u64, |acc, &p| acc | sets[p as usize]),
        };
    }
    sets
}

/// Joins, waits and imbalance of a trace.
pub fn sync_report(t: &Trace) -> SyncReport {
    let sets = branch_sets(t);
    let label = |s: u64| -> String {
        let names: Vec<&str> = (0..64).filter(|b| s & (1 << b) != 0).filter_map(|b| t.modalities.get(b).map(String::as_str)).collect();
        names.join("+")
    };
    let mut joins = Vec::new();
    for r in t.ops.iter() {
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
                BranchWait { branch: label(sets[p as usize]), ready_s: pr.end_s, wait_s: (r.start_s - pr.end_s).max(0.0) }
            })
            .collect();
        joins.push(JoinWait { name: r.name.clone(), start_s: r.start_s, branches });
    }
    let total_wait_s = joins.iter().flat_map(|j| j.branches.iter()).map(|b| b.wait_s).sum();
    // Busy time of each modality's encoder ops; input copies are not encoder work, so a modality that is only
    // an input (TransFuser's target point) does not count as a branch of almost zero time.
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
    SyncReport { joins, total_wait_s, imbalance }
}
