//! The critical path: walking back from the op that ends last, each step goes to the predecessor (an input
//! or the previous op on the same stream) that ended last, i.e. the one that held this op back. Time not
//! covered by ops on the path (host issue overhead, synchronization) is reported as `overhead`.

use crate::graph::Stage;
use crate::trace::{RecordKind, Trace};
use serde::Serialize;

/// Consecutive ops on the path with the same stage and modality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathSegment {
    pub stage: Stage,
    pub modality: Option<String>,
    pub ops: usize,
    /// Busy time of these ops.
    pub seconds: f64,
}

/// The critical path of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPath {
    pub segments: Vec<PathSegment>,
    /// Sum of op durations on the path.
    pub busy_s: f64,
    /// Latency minus busy time: launch and synchronization overhead on the path.
    pub overhead_s: f64,
}

impl CriticalPath {
    /// `audio encoder 0.310 ms -> fusion 0.010 ms -> head 0.050 ms`: time on the path per stage and
    /// modality, in order of first appearance (a path that alternates between branches, as interleaved
    /// encoders do, is summarized per branch).
    pub fn describe(&self) -> String {
        let mut totals: Vec<PathSegment> = Vec::new();
        for seg in &self.segments {
            match totals.iter_mut().find(|t| t.stage == seg.stage && t.modality == seg.modality) {
                Some(t) => {
                    t.ops += seg.ops;
                    t.seconds += seg.seconds;
                }
                None => totals.push(seg.clone()),
            }
        }
        let parts: Vec<String> = totals
            .iter()
            .map(|s| {
                let what = match &s.modality {
                    Some(m) if s.stage == Stage::Encoder => format!("{m} encoder"),
                    Some(m) => format!("{} ({m})", s.stage.name()),
                    None => s.stage.name().to_string(),
                };
                format!("{what} {:.3} ms", s.seconds * 1e3)
            })
            .collect();
        parts.join(" -> ")
    }
}

pub fn critical_path(t: &Trace) -> CriticalPath {
    let n = t.ops.len();
    // Previous op on the same (device, stream).
    let mut prev_on_stream = vec![None; n];
    let mut order: Vec<usize> = (0..n).filter(|&i| t.ops[i].kind != RecordKind::Input).collect();
    order.sort_by(|&a, &b| t.ops[a].start_s.total_cmp(&t.ops[b].start_s).then(a.cmp(&b)));
    let mut last: std::collections::HashMap<(u16, u32), usize> = Default::default();
    for &i in &order {
        let key = (t.ops[i].device, t.ops[i].stream);
        prev_on_stream[i] = last.insert(key, i);
    }
    let Some(mut cur) = (0..n).filter(|&i| t.ops[i].kind != RecordKind::Input).max_by(|&a, &b| t.ops[a].end_s.total_cmp(&t.ops[b].end_s).then(b.cmp(&a))) else {
        return CriticalPath { segments: vec![], busy_s: 0.0, overhead_s: t.latency_s };
    };
    let mut path = vec![cur];
    loop {
        let r = &t.ops[cur];
        let cands = r.inputs.iter().map(|&p| p as usize).chain(prev_on_stream[cur]);
        let best = cands.filter(|&p| t.ops[p].kind != RecordKind::Input).max_by(|&a, &b| t.ops[a].end_s.total_cmp(&t.ops[b].end_s));
        match best {
            Some(p) if p != cur => {
                path.push(p);
                cur = p;
            }
            _ => break,
        }
    }
    path.reverse();
    let mut segments: Vec<PathSegment> = Vec::new();
    let mut busy = 0.0;
    for &i in &path {
        let r = &t.ops[i];
        let m = t.modality_name(r.modality).map(str::to_string);
        let d = r.duration_s();
        busy += d;
        match segments.last_mut() {
            Some(s) if s.stage == r.stage && s.modality == m => {
                s.ops += 1;
                s.seconds += d;
            }
            _ => segments.push(PathSegment { stage: r.stage, modality: m, ops: 1, seconds: d }),
        }
    }
    CriticalPath { segments, busy_s: busy, overhead_s: (t.latency_s - busy).max(0.0) }
}
