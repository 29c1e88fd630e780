//! Chrome trace event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open:
//! `{"traceEvents": [...], "displayTimeUnit": "ms"}`. One process per device and one thread per stream, named
//! with metadata events (pid = device index + 1, tid = stream + 1: Perfetto treats pid and tid 0 as the
//! kernel's idle task); a complete event (`"ph": "X"`, microseconds) per executed record, in category =
//! its stage and colored by stage; for every branch that waits at a join, a slice on a "wait" track from the
//! moment its tensor is ready to the join's start, and a flow arrow from the producer to the join.

use crate::analysis::sync_report;
use crate::error::{Error, Result};
use crate::graph::Stage;
use crate::trace::{RecordKind, Trace};
use serde_json::{json, Value};

/// Trace-viewer reserved color names (`cname`) per stage.
pub fn stage_color(stage: Stage) -> &'static str {
    match stage {
        Stage::Encoder => "thread_state_running", // green
        Stage::Fusion => "rail_animation",        // red
        Stage::Head => "rail_response",           // blue
    }
}

/// Copies between devices, and waiting.
pub const TRANSFER_COLOR: &str = "grey";
pub const WAIT_COLOR: &str = "cq_build_abandoned"; // light grey

fn us(s: f64) -> f64 {
    s * 1e6
}

fn pid(device: u16) -> u32 {
    u32::from(device) + 1
}

fn tid(stream: u32) -> u32 {
    stream + 1
}

/// The Chrome trace of `t`.
pub fn chrome_trace(t: &Trace) -> Result<String> {
    let mut events: Vec<Value> = Vec::new();
    let tracks = super::tracks(t);
    let mut devices: Vec<u16> = tracks.iter().map(|tr| tr.device).collect();
    devices.dedup();
    for &d in &devices {
        let name = format!("{} ({})", t.devices[d as usize], t.hardware);
        events.push(json!({"name": "process_name", "ph": "M", "pid": pid(d), "args": {"name": name}}));
        events.push(json!({"name": "process_sort_index", "ph": "M", "pid": pid(d), "args": {"sort_index": d}}));
    }
    for tr in &tracks {
        let (p, t) = (pid(tr.device), tid(tr.stream));
        events.push(json!({"name": "thread_name", "ph": "M", "pid": p, "tid": t, "args": {"name": tr.label()}}));
        events.push(json!({"name": "thread_sort_index", "ph": "M", "pid": p, "tid": t, "args": {"sort_index": tr.stream}}));
    }
    for r in t.executed() {
        let cname = if r.kind == RecordKind::Transfer { TRANSFER_COLOR } else { stage_color(r.stage) };
        events.push(json!({
            "name": r.name,
            "cat": r.stage.name(),
            "ph": "X",
            "ts": us(r.start_s),
            "dur": us(r.duration_s()),
            "pid": pid(r.device),
            "tid": tid(r.stream),
            "cname": cname,
            "args": {
                "op": r.op,
                "kind": r.kind,
                "modality": t.modality_name(r.modality),
                "flops": r.flops,
                "bytes": r.bytes,
                "kernels": r.kernels,
                "host_us": r.host_s * 1e6,
            },
        }));
    }
    // Waits at joins: a track per waiting branch, after the streams of the producer's device.
    let sync = sync_report(t);
    let mut next_stream = tracks.iter().map(|tr| tr.stream).max().map_or(0, |m| m + 1);
    let mut flow_id = 0u32;
    for j in &sync.joins {
        let join = &t.ops[j.record as usize];
        for b in j.branches.iter().filter(|b| b.wait_s > 0.0) {
            let producer = &t.ops[b.record as usize];
            let (p, t) = (pid(producer.device), tid(next_stream));
            let label = format!("wait: {} at {}", b.branch, j.name);
            events.push(json!({"name": "thread_name", "ph": "M", "pid": p, "tid": t, "args": {"name": label}}));
            events.push(json!({"name": "thread_sort_index", "ph": "M", "pid": p, "tid": t, "args": {"sort_index": next_stream}}));
            next_stream += 1;
            events.push(json!({
                "name": label,
                "cat": "sync",
                "ph": "X",
                "ts": us(b.ready_s),
                "dur": us(b.wait_s),
                "pid": p,
                "tid": t,
                "cname": WAIT_COLOR,
                "args": {"branch": b.branch, "join": j.name, "wait_ms": b.wait_s * 1e3},
            }));
            // Flow events bind to the slice that encloses their timestamp: use each slice's midpoint.
            events.push(json!({"name": "sync wait", "cat": "sync", "ph": "s", "id": flow_id, "ts": us((producer.start_s + producer.end_s) / 2.0), "pid": pid(producer.device), "tid": tid(producer.stream)}));
            events.push(json!({"name": "sync wait", "cat": "sync", "ph": "f", "bp": "e", "id": flow_id, "ts": us((join.start_s + join.end_s) / 2.0), "pid": pid(join.device), "tid": tid(join.stream)}));
            flow_id += 1;
        }
    }
    let doc = json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "workload": t.workload,
            "hardware": t.hardware,
            "runtime": t.runtime,
            "batch": t.batch,
            "source": t.source,
            "latency_ms": t.latency_s * 1e3,
        },
    });
    serde_json::to_string(&doc).map_err(|e| Error::Unsupported(format!("JSON encoding failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::two_branches;

    fn events(v: &Value, ph: &str) -> Vec<Value> {
        v["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == ph).cloned().collect()
    }

    #[test]
    fn every_record_is_a_complete_event_with_its_duration() {
        let t = two_branches();
        let v: Value = serde_json::from_str(&chrome_trace(&t).unwrap()).unwrap();
        assert_eq!(v["displayTimeUnit"], "ms");
        let slices: Vec<Value> = events(&v, "X").into_iter().filter(|e| e["cat"] != "sync").collect();
        assert_eq!(slices.len(), t.ops.len());
        for r in &t.ops {
            let e = slices.iter().find(|e| e["name"] == r.name.as_str()).unwrap_or_else(|| panic!("{} missing", r.name));
            assert!((e["ts"].as_f64().unwrap() - r.start_s * 1e6).abs() < 1e-6);
            assert!((e["dur"].as_f64().unwrap() - r.duration_s() * 1e6).abs() < 1e-6);
            assert_eq!(e["cat"], r.stage.name());
            assert_eq!(e["cname"], stage_color(r.stage));
            assert_eq!((e["pid"].as_u64(), e["tid"].as_u64()), (Some(1), Some(u64::from(r.stream) + 1)));
            assert_eq!(e["args"]["op"], "linear");
            assert!(e["args"]["flops"].is_u64() && e["args"]["bytes"].is_u64());
        }
        let a = slices.iter().find(|e| e["name"] == "a").unwrap();
        assert_eq!(a["args"]["modality"], "a");
    }

    #[test]
    fn devices_and_streams_are_named() {
        let v: Value = serde_json::from_str(&chrome_trace(&two_branches()).unwrap()).unwrap();
        let meta = events(&v, "M");
        let thread = |tid: u64| meta.iter().find(|e| e["name"] == "thread_name" && e["tid"] == tid).map(|e| e["args"]["name"].clone());
        assert!(meta.iter().any(|e| e["name"] == "process_name" && e["pid"] == 1 && e["args"]["name"] == "gpu (h)"));
        for s in [0, 1, 2] {
            assert_eq!(thread(s + 1), Some(Value::from(format!("stream {s}"))));
        }
        assert!(!v["traceEvents"].as_array().unwrap().iter().any(|e| e["pid"] == 0 || e["tid"] == 0));
    }

    #[test]
    fn a_waiting_branch_gets_a_wait_slice_and_a_flow_to_the_join() {
        // Branch b is ready at 1 ms and waits 2 ms for the join at 3 ms; a waits nothing.
        let v: Value = serde_json::from_str(&chrome_trace(&two_branches()).unwrap()).unwrap();
        let waits: Vec<Value> = events(&v, "X").into_iter().filter(|e| e["cat"] == "sync").collect();
        assert_eq!(waits.len(), 1);
        assert!((waits[0]["ts"].as_f64().unwrap() - 1000.0).abs() < 1e-6);
        assert!((waits[0]["dur"].as_f64().unwrap() - 2000.0).abs() < 1e-6);
        assert_eq!(waits[0]["args"]["branch"], "b");
        let (starts, ends) = (events(&v, "s"), events(&v, "f"));
        assert_eq!((starts.len(), ends.len()), (1, 1));
        assert_eq!(starts[0]["id"], ends[0]["id"]);
        // The flow starts inside b's slice (stream 2, 0-1 ms) and ends inside the join (stream 0, 3-3.5 ms).
        assert_eq!((starts[0]["tid"].as_u64(), ends[0]["tid"].as_u64()), (Some(3), Some(1)));
        let ts = starts[0]["ts"].as_f64().unwrap();
        assert!(ts > 0.0 && ts < 1000.0);
        let te = ends[0]["ts"].as_f64().unwrap();
        assert!(te > 3000.0 && te < 3500.0);
    }
}
