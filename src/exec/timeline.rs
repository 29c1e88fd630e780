//! A measured run as a [`Trace`], laid out as `predict::to_trace` lays out a predicted one: a zero-length
//! `Input` record per input, one record per executed op (device `gpu`, stream 0: one wgpu queue runs
//! everything in order), each naming the records it consumes; weights and views have no record and pass
//! their producer on.

use crate::graph::{Op, Workload};
use crate::trace::{OpRecord, RecordKind, Trace, TraceSource};
use petgraph::graph::NodeIndex;

/// The trace of one measured inference: `ops[i]` ran node `steps[i]` from `times[i].0` to `times[i].1`
/// seconds after the first op started; `latency_s` is the end-to-end time.
pub fn measured_trace(w: &Workload, adapter: &str, steps: &[NodeIndex], times: &[(f64, f64)], latency_s: f64) -> Trace {
    let mut time_of = vec![None; w.len()];
    for (s, t) in steps.iter().zip(times) {
        time_of[s.index()] = Some(*t);
    }
    // The record that holds each node's value (views and weights pass their producer's on).
    let mut record_of: Vec<Option<u32>> = vec![None; w.len()];
    let mut ops: Vec<OpRecord> = Vec::with_capacity(steps.len() + 8);
    for (i, node) in w.nodes() {
        let (kind, (start, end)) = match (&node.op, time_of[i.index()]) {
            (Op::Input(_), _) => (RecordKind::Input, (0.0, 0.0)),
            (_, Some(t)) => (RecordKind::Op, t),
            _ => {
                record_of[i.index()] = node.inputs.first().and_then(|p| record_of[p.index()]);
                continue;
            }
        };
        let mut inputs: Vec<u32> = node.inputs.iter().filter_map(|p| record_of[p.index()]).collect();
        inputs.dedup();
        // A record never starts before what it consumes has ended (timestamps of back-to-back passes can
        // overlap by a tick).
        let ready = inputs.iter().map(|&r| ops[r as usize].end_s).fold(0.0f64, f64::max);
        let start = start.max(ready);
        record_of[i.index()] = Some(ops.len() as u32);
        ops.push(OpRecord {
            name: node.name.clone(),
            op: node.op.kind(),
            kind,
            class: node.cost.class,
            stage: node.stage,
            modality: node.modality,
            device: 0,
            stream: 0,
            start_s: start,
            end_s: end.max(start),
            flops: if kind == RecordKind::Op { node.cost.flops } else { 0 },
            bytes: if kind == RecordKind::Op { node.cost.bytes() } else { 0 },
            kernels: if kind == RecordKind::Op { node.cost.kernels } else { 0 },
            inputs,
            out_bytes: node.output.bytes(),
            host_s: 0.0,
        });
    }
    let last_end = ops.iter().map(|r| r.end_s).fold(0.0f64, f64::max);
    Trace {
        workload: w.name.clone(),
        hardware: adapter.to_string(),
        runtime: "wgpu".into(),
        batch: w.batch,
        source: TraceSource::Measured { adapter: adapter.to_string() },
        devices: vec!["gpu".into()],
        modalities: w.modalities.clone(),
        ops,
        // The wall time covers submission too; never report less than the GPU timeline itself.
        latency_s: latency_s.max(last_end),
        params: w.params(),
        flops: w.flops(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, GraphBuilder, Stage};

    #[test]
    fn views_and_weights_pass_their_producer_on() {
        let mut b = GraphBuilder::new(1);
        b.set_stage(Stage::Encoder, Some("a"));
        let x = b.input("x", &[1, 4], DType::F32).unwrap();
        let r = b.reshape("r", x, &[4]).unwrap();
        let y = b.linear("fc", r, 3, true).unwrap();
        b.set_stage(Stage::Head, None);
        let z = b.relu("relu", y).unwrap();
        let w = b.finish("t", "", vec![z]);
        let t = measured_trace(&w, "test", &[y, z], &[(0.0, 1e-6), (2e-6, 3e-6)], 5e-6);
        t.validate().unwrap();
        assert_eq!(t.ops.len(), 3);
        assert_eq!(t.ops[0].kind, RecordKind::Input);
        assert_eq!(t.ops[1].inputs, vec![0]);
        assert_eq!(t.ops[2].inputs, vec![1]);
        assert_eq!(t.source, TraceSource::Measured { adapter: "test".into() });
        assert_eq!(t.latency_s, 5e-6);
    }
}
