//! Time per stage and modality. Every instant of the inference is attributed to what runs then: when k ops
//! overlap each gets 1/k of it; an idle gap (host launch overhead, waiting) goes to the op that starts after
//! it; the tail after the last op (final synchronization) goes to the op that ended last. The parts
//! therefore add up to the end-to-end latency exactly, whatever the overlap.

use crate::graph::Stage;
use crate::trace::{RecordKind, Trace};
use serde::Serialize;

/// The time attributed to one (stage, modality).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    pub modality: Option<String>,
    pub seconds: f64,
    /// `seconds` over the end-to-end latency.
    pub share: f64,
    /// Ops and kernels of this stage.
    pub ops: usize,
    pub kernels: u64,
}

/// Splits `[0, latency]` among intervals `(start, end)`: overlapping intervals share time equally, idle gaps
/// go to the interval that starts next, the tail after the last end to the interval that ends last.
/// Intervals of zero length get nothing. The parts add up to `latency` (when some interval is non-empty).
pub fn attribute_time(intervals: &[(f64, f64)], latency: f64) -> Vec<f64> {
    let mut attributed = vec![0.0f64; intervals.len()];
    let mut by_start: Vec<(usize, f64, f64)> = intervals.iter().enumerate().filter(|(_, (s, e))| e > s).map(|(i, &(s, e))| (i, s, e)).collect();
    if by_start.is_empty() {
        return attributed;
    }
    // Sweep over the sorted boundaries.
    let mut points: Vec<f64> = by_start.iter().flat_map(|&(_, s, e)| [s, e]).collect();
    points.push(0.0);
    points.sort_by(f64::total_cmp);
    points.dedup();
    by_start.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut active: Vec<(usize, f64)> = Vec::new();
    let mut next_start = 0usize;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        active.retain(|&(_, e)| e > a);
        while next_start < by_start.len() && by_start[next_start].1 <= a {
            let (i, _, e) = by_start[next_start];
            if e > a {
                active.push((i, e));
            }
            next_start += 1;
        }
        let dt = b - a;
        if active.is_empty() {
            // Idle: charge the interval that starts next.
            if let Some(&(i, _, _)) = by_start.get(next_start) {
                attributed[i] += dt;
            }
        } else {
            let share = dt / active.len() as f64;
            for &(i, _) in &active {
                attributed[i] += share;
            }
        }
    }
    // Tail: from the last end to the end-to-end latency.
    let (last_i, last_end) = by_start.iter().map(|&(i, _, e)| (i, e)).fold((by_start[0].0, f64::MIN), |acc, x| if x.1 >= acc.1 { x } else { acc });
    if latency > last_end {
        attributed[last_i] += latency - last_end;
    }
    attributed
}

/// Attributed time per (stage, modality): encoders in modality order, then fusion, then head.
pub fn stage_breakdown(t: &Trace) -> Vec<StageTime> {
    let intervals: Vec<(f64, f64)> = t.ops.iter().map(|r| if r.kind == RecordKind::Input { (0.0, 0.0) } else { (r.start_s, r.end_s) }).collect();
    let attributed = attribute_time(&intervals, t.latency_s);
    let mut out: Vec<StageTime> = Vec::new();
    let mut keys: Vec<(Stage, Option<u16>)> = Vec::new();
    for (i, r) in t.ops.iter().enumerate() {
        if r.kind == RecordKind::Input {
            continue;
        }
        let key = (r.stage, r.modality);
        let pos = match keys.iter().position(|k| *k == key) {
            Some(p) => p,
            None => {
                keys.push(key);
                out.push(StageTime { stage: r.stage, modality: t.modality_name(r.modality).map(str::to_string), seconds: 0.0, share: 0.0, ops: 0, kernels: 0 });
                keys.len() - 1
            }
        };
        out[pos].seconds += attributed[i];
        out[pos].ops += 1;
        out[pos].kernels += u64::from(r.kernels);
    }
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by_key(|&i| (keys[i].0, keys[i].1.map_or(u32::MAX, u32::from)));
    for st in &mut out {
        st.share = if t.latency_s > 0.0 { st.seconds / t.latency_s } else { 0.0 };
    }
    order.into_iter().map(|i| out[i].clone()).collect()
}
