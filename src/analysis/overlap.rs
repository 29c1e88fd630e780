//! Overlap between branches: the wall-clock time during which records of two or more modalities execute at
//! once. MMBench's reference runs are serial (WORKLOADS.md §0.1), so this is zero there; it measures how much
//! a runtime with streams or several devices actually runs branches side by side.

use super::intervals::covered_by_at_least;
use crate::trace::Trace;
use serde::Serialize;

/// How much the modality branches of a trace run at the same time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchOverlap {
    /// Wall-clock time during which records of at least two different modalities execute.
    pub overlap_s: f64,
    /// `overlap_s` over the end-to-end latency.
    pub share: f64,
    /// The most modalities executing at one instant (0 when no record carries a modality).
    pub max_concurrent: usize,
}

/// Overlap between the branches of `t`. Every executed record with a modality counts (encoder ops and the
/// copies of that modality's inputs); records of one modality that overlap each other count once.
pub fn branch_overlap(t: &Trace) -> BranchOverlap {
    let mut per_modality: Vec<Vec<(f64, f64)>> = vec![Vec::new(); t.modalities.len()];
    for r in t.executed() {
        if let Some(m) = r.modality {
            per_modality[m as usize].push((r.start_s, r.end_s));
        }
    }
    let (overlap_s, max_concurrent) = covered_by_at_least(per_modality, 2);
    let share = if t.latency_s > 0.0 { overlap_s / t.latency_s } else { 0.0 };
    BranchOverlap { overlap_s, share, max_concurrent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use crate::graph::Stage;

    #[test]
    fn two_branches_overlap_for_the_shorter_one() {
        // a runs 0-3 ms, b 0-1 ms: both run during the first millisecond of a 4 ms inference.
        let o = branch_overlap(&two_branches());
        assert!(close(o.overlap_s, 1e-3), "{}", o.overlap_s);
        assert!(close(o.share, 0.25));
        assert_eq!(o.max_concurrent, 2);
    }

    #[test]
    fn serial_branches_and_one_modality_on_two_streams_do_not_overlap() {
        let serial = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 0, 0.0, 1.0, &[]),
                op("b", Stage::Encoder, Some(1), 0, 1.0, 3.0, &[]),
                op("fuse", Stage::Fusion, None, 0, 3.0, 4.0, &[0, 1]),
            ],
            4.0,
        );
        assert_eq!(branch_overlap(&serial).overlap_s, 0.0);
        let same = trace(vec![op("a1", Stage::Encoder, Some(0), 1, 0.0, 2.0, &[]), op("a2", Stage::Encoder, Some(0), 2, 1.0, 3.0, &[])], 3.0);
        let o = branch_overlap(&same);
        assert_eq!(o.overlap_s, 0.0);
        assert_eq!(o.max_concurrent, 1);
    }

    #[test]
    fn three_branches_count_time_with_any_two_running() {
        let mut t = trace(
            vec![
                op("a", Stage::Encoder, Some(0), 1, 0.0, 2.0, &[]),
                op("b", Stage::Encoder, Some(1), 2, 1.0, 3.0, &[]),
                op("c", Stage::Encoder, Some(2), 3, 2.5, 4.0, &[]),
            ],
            4.0,
        );
        t.modalities.push("c".into());
        // a+b on [1, 2], b+c on [2.5, 3].
        let o = branch_overlap(&t);
        assert!(close(o.overlap_s, 1.5e-3), "{}", o.overlap_s);
        assert_eq!(o.max_concurrent, 2);
    }
}
