//! Prediction: the cost model (time of one op on one device), the plan (placement, streams, copies, host
//! costs) and the event-driven simulator. The result is a [`Trace`], like a measured run's.

pub mod cost_model;
pub mod plan;
pub mod simulator;

pub use cost_model::{op_time, op_time_at, Bound, DeviceRates, OpTime};
pub use plan::{build_plan, Placement, Plan, PredictOptions, COPY_STREAM};
pub use simulator::{simulate, simulate_in_order, simulate_shared, Schedule};

use crate::error::Result;
use crate::graph::Workload;
use crate::hardware::Hardware;
use crate::trace::{OpRecord, RecordKind, Trace, TraceSource};
use plan::Resource;

/// Predicts one inference of `w` on `hw`.
pub fn predict(w: &Workload, hw: &Hardware, opts: &PredictOptions) -> Result<Trace> {
    let plan = build_plan(w, hw, opts)?;
    let schedule = simulate(&plan);
    Ok(to_trace(w, hw, &plan, &schedule))
}

/// Predicted end-to-end latency only, in seconds (no trace is built; for sweeps).
pub fn predict_latency(w: &Workload, hw: &Hardware, opts: &PredictOptions) -> Result<f64> {
    let plan = build_plan(w, hw, opts)?;
    Ok(simulate(&plan).latency_s)
}

/// Turns a simulated plan into a trace.
pub fn to_trace(w: &Workload, hw: &Hardware, plan: &Plan, s: &Schedule) -> Trace {
    // The host's time in each call: its issue cost, and for a blocking op (a copy, host work) the wait until
    // it ends, as the simulator's host thread spends them.
    let mut host = 0.0f64;
    let host_s: Vec<f64> = plan
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let issued = host + op.host_cost_s;
            let after = if op.blocking { s.end_s[i].max(issued) } else { issued };
            let spent = after - host;
            host = after;
            spent
        })
        .collect();
    let ops = plan
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let node = op.node.map(|n| &w.graph[petgraph::graph::NodeIndex::new(n as usize)]);
            let (name, kind_name, class, flops, kernels, out_bytes) = match (op.kind, node) {
                (RecordKind::Transfer, _) => {
                    let src = plan.ops[plan.deps_of(i)[0] as usize].node.map(|n| w.graph[petgraph::graph::NodeIndex::new(n as usize)].name.as_str()).unwrap_or("?");
                    (format!("copy {src} -> {}", hw.devices[op.device as usize].name), "transfer".to_string(), crate::graph::OpClass::Movement, 0, 1, op.bytes)
                }
                (_, Some(n)) => (n.name.clone(), n.op.kind(), n.cost.class, n.cost.flops, op.kernels, n.output.bytes()),
                (_, None) => unreachable!("ops and inputs have a node"),
            };
            let stream = match op.resource {
                Resource::Stream(_, s) => s,
                Resource::Link(_) => COPY_STREAM,
                Resource::None => 0,
            };
            OpRecord {
                name,
                op: kind_name,
                kind: op.kind,
                class,
                stage: op.stage,
                modality: op.modality,
                device: op.device,
                stream,
                start_s: s.start_s[i],
                end_s: s.end_s[i],
                flops,
                bytes: op.bytes,
                kernels,
                // Data dependencies only: a copy's further dependencies order it after queued work.
                inputs: if op.kind == RecordKind::Transfer { plan.deps_of(i)[..1].to_vec() } else { plan.deps_of(i).to_vec() },
                out_bytes,
                host_s: host_s[i],
            }
        })
        .collect();
    Trace {
        workload: w.name.clone(),
        hardware: hw.name.clone(),
        runtime: plan.runtime.name.clone(),
        batch: w.batch,
        source: TraceSource::Predicted,
        devices: hw.devices.iter().map(|d| d.name.clone()).collect(),
        modalities: w.modalities.clone(),
        ops,
        latency_s: s.latency_s,
        params: w.params(),
        flops: w.flops(),
    }
}
