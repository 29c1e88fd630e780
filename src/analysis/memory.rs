//! Memory: parameters and live activations over time. Each record's output (`OpRecord::out_bytes`) is
//! allocated on its device when the record starts and freed when the last record that consumes it ends (at
//! its own end when nothing consumes it, like LeNet's discarded side outputs). Weights are parameters, not
//! activations; views do not appear in traces, so their consumers keep the viewed tensor alive. This is the
//! lower bound a caching allocator reaches with perfect reuse.

use crate::trace::Trace;
use serde::Serialize;

/// Live activation bytes on a device from `t_s` until the next point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemoryPoint {
    pub t_s: f64,
    pub bytes: u64,
}

/// Activation memory on one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceMemory {
    pub device: String,
    pub peak_bytes: u64,
    /// When the peak is first reached.
    pub peak_at_s: f64,
    /// A step function: one point at every instant the live bytes change.
    pub timeline: Vec<MemoryPoint>,
}

/// Memory figures of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryReport {
    pub params: u64,
    /// Parameters in fp32, as every MMBench workload stores them (WORKLOADS.md §0).
    pub param_bytes: u64,
    /// The largest per-device activation peak.
    pub peak_activation_bytes: u64,
    /// Devices that hold activations, in trace order.
    pub devices: Vec<DeviceMemory>,
    /// Whether the trace carries tensor sizes at all (a trace without them shows no activations).
    pub sizes_known: bool,
}

pub fn memory_report(t: &Trace) -> MemoryReport {
    // Free time of each record's output: the latest end among its consumers.
    let mut free_at: Vec<f64> = t.ops.iter().map(|r| r.end_s).collect();
    for r in &t.ops {
        for &p in &r.inputs {
            let f = &mut free_at[p as usize];
            *f = f.max(r.end_s);
        }
    }
    let mut devices = Vec::new();
    for (d, name) in t.devices.iter().enumerate() {
        // (time, signed bytes); at equal times frees come first, as an allocator reuses the memory at once.
        let mut events: Vec<(f64, i64)> = Vec::new();
        for (i, r) in t.ops.iter().enumerate().filter(|(_, r)| r.device as usize == d && r.out_bytes > 0) {
            if free_at[i] > r.start_s {
                events.push((r.start_s, r.out_bytes as i64));
                events.push((free_at[i], -(r.out_bytes as i64)));
            }
        }
        if events.is_empty() {
            continue;
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut timeline: Vec<MemoryPoint> = vec![MemoryPoint { t_s: 0.0, bytes: 0 }];
        let mut live: i64 = 0;
        for (t_s, delta) in events {
            live += delta;
            let bytes = live.max(0) as u64;
            match timeline.last_mut() {
                Some(p) if p.t_s == t_s => p.bytes = bytes,
                _ => timeline.push(MemoryPoint { t_s, bytes }),
            }
        }
        timeline.dedup_by(|b, a| a.bytes == b.bytes);
        let peak = timeline.iter().copied().fold(MemoryPoint { t_s: 0.0, bytes: 0 }, |m, p| if p.bytes > m.bytes { p } else { m });
        devices.push(DeviceMemory { device: name.clone(), peak_bytes: peak.bytes, peak_at_s: peak.t_s, timeline });
    }
    MemoryReport {
        params: t.params,
        param_bytes: t.params * 4,
        peak_activation_bytes: devices.iter().map(|d| d.peak_bytes).max().unwrap_or(0),
        devices,
        sizes_known: t.ops.iter().any(|r| r.out_bytes > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use crate::graph::Stage;
    use crate::trace::RecordKind;

    #[test]
    fn tensors_live_from_producer_start_to_last_consumer_end() {
        // two_branches: a (100 B, 0-3 ms), b (50 B, 0-1 ms), fuse (30 B, 3-3.5 ms), head (10 B, 3.5-4 ms).
        let mut t = two_branches();
        for (r, bytes) in t.ops.iter_mut().zip([100, 50, 30, 10]) {
            r.out_bytes = bytes;
        }
        t.params = 1000;
        let m = memory_report(&t);
        assert_eq!((m.params, m.param_bytes), (1000, 4000));
        assert_eq!(m.devices.len(), 1);
        let steps: Vec<(f64, u64)> = m.devices[0].timeline.iter().map(|p| (p.t_s * 1e3, p.bytes)).collect();
        // a and b live until fuse ends; fuse until head ends; head until its own end.
        let want = [(0.0, 150), (3.0, 180), (3.5, 40), (4.0, 0)];
        assert_eq!(steps.len(), want.len(), "{steps:?}");
        for ((t_ms, b), (wt, wb)) in steps.iter().zip(want) {
            assert!((t_ms - wt).abs() < 1e-9 && *b == wb, "{steps:?}");
        }
        assert_eq!(m.peak_activation_bytes, 180);
        assert!(close(m.devices[0].peak_at_s, 3e-3));
        assert!(m.sizes_known);
    }

    #[test]
    fn each_device_holds_its_own_outputs() {
        // An input on the host (device 1), copied to the GPU (device 0) and consumed there.
        let mut t = trace(
            vec![
                out(op("x", Stage::Encoder, Some(0), 0, 0.0, 0.0, &[]), 64),
                out(op("copy x", Stage::Encoder, Some(0), 99, 0.0, 1.0, &[0]), 64),
                out(op("conv", Stage::Encoder, Some(0), 0, 1.0, 2.0, &[1]), 256),
            ],
            2.0,
        );
        t.devices.push("cpu".into());
        t.ops[0].kind = RecordKind::Input;
        t.ops[0].device = 1;
        t.ops[1].kind = RecordKind::Transfer;
        let m = memory_report(&t);
        let names: Vec<&str> = m.devices.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["gpu", "cpu"]);
        // GPU: the copy (64 B) from 0 ms until conv ends, conv (256 B) from 1 ms.
        assert_eq!(m.devices[0].peak_bytes, 320);
        assert!(close(m.devices[0].peak_at_s, 1e-3));
        // Host: the input until the copy ends.
        assert_eq!(m.devices[1].peak_bytes, 64);
        assert_eq!(m.devices[1].timeline.last().unwrap().bytes, 0);
        assert_eq!(m.peak_activation_bytes, 320);
    }

    #[test]
    fn a_trace_without_sizes_says_so() {
        let m = memory_report(&two_branches());
        assert!(!m.sizes_known);
        assert!(m.devices.is_empty());
        assert_eq!(m.peak_activation_bytes, 0);
    }
}
