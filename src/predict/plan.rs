//! From a workload and a hardware description to the list of things the simulator schedules: every op with
//! its device, stream, duration, host issue cost and dependencies, plus the copies that placement makes
//! necessary. Building the plan is where placement and runtime choices are checked.

use super::cost_model::{op_time_with, transfer_time, DeviceRates, OpTime};
use crate::error::{Error, Result};
use crate::graph::{Op, OpClass, Stage, Workload};
use crate::hardware::{Hardware, RecurrentLayerCalls, Runtime, Streams};
use crate::trace::RecordKind;
use std::collections::HashMap;

/// Where ops run: per modality branch (or `fusion` / `head` stage) a device name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    pub assignments: Vec<(String, String)>,
}

impl Placement {
    /// Parses `audio=cpu`.
    pub fn parse(arg: &str) -> std::result::Result<(String, String), String> {
        let (k, v) = arg.split_once('=').ok_or_else(|| format!("`--place {arg}`: expected BRANCH=DEVICE"))?;
        if k.trim().is_empty() || v.trim().is_empty() {
            return Err(format!("`--place {arg}`: expected BRANCH=DEVICE"));
        }
        Ok((k.trim().to_string(), v.trim().to_string()))
    }
}

/// What the simulator needs to know about a prediction.
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    /// Runtime name; the hardware's default when `None`.
    pub runtime: Option<String>,
    pub placement: Placement,
}

/// The stream that copies use on their destination device (shown as its own track).
pub const COPY_STREAM: u32 = 99;

/// What a scheduled item occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Nothing (an input arriving in host memory).
    None,
    /// A stream of a device: (device, device-local stream).
    Stream(u16, u32),
    /// A link between devices.
    Link(u16),
}

/// One item the simulator schedules.
#[derive(Debug, Clone)]
pub struct SimOp {
    /// The workload node (`None` for copies).
    pub node: Option<u32>,
    pub kind: RecordKind,
    pub stage: Stage,
    pub modality: Option<u16>,
    pub resource: Resource,
    /// The device shown in the trace (a copy's destination).
    pub device: u16,
    /// Standalone duration on its resource, seconds.
    pub duration_s: f64,
    /// Host time spent issuing it, seconds.
    pub host_cost_s: f64,
    /// The host waits for it to finish (copies, ops on the host's own processor).
    pub blocking: bool,
    /// Fraction of its device it keeps busy.
    pub occupancy: f64,
    /// Range of [`Plan::deps`] holding the items this one waits for (for a copy: the value it copies first,
    /// then the work queued before it on the devices it touches).
    pub deps: std::ops::Range<u32>,
    pub time: OpTime,
    /// For copies: bytes moved.
    pub bytes: u64,
    /// Kernels it launches (as its runtime launches them).
    pub kernels: u32,
}

/// Everything the simulator schedules for one inference.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ops: Vec<SimOp>,
    /// Dependencies of all items, each item's a contiguous range (one allocation for the whole plan).
    pub deps: Vec<u32>,
    pub runtime: Runtime,
    /// Per device: how many kernels may run at once.
    pub max_concurrent: Vec<u32>,
    /// Per device: how many streams the plan uses.
    pub streams_per_device: Vec<u32>,
    /// Host time of the final synchronization, seconds.
    pub final_sync_s: f64,
    /// Device index of every workload node (views and weights: their consumer's device or the default).
    pub node_device: Vec<u16>,
}

impl Plan {
    /// The items op `i` waits for.
    pub fn deps_of(&self, i: usize) -> &[u32] {
        let r = &self.ops[i].deps;
        &self.deps[r.start as usize..r.end as usize]
    }

    /// Whether some device runs more than one stream (the simulator then shares devices between kernels).
    pub fn has_concurrency(&self) -> bool {
        self.streams_per_device.iter().any(|&s| s > 1)
    }
}

#[derive(Clone, Copy)]
enum Loc {
    /// Resident everywhere (weights, inputs when the runtime keeps them on the device).
    Anywhere,
    At(u16),
}

/// Builds the plan.
pub fn build_plan(w: &Workload, hw: &Hardware, opts: &PredictOptions) -> Result<Plan> {
    let runtime = match &opts.runtime {
        Some(name) => hw.runtime(name)?.clone(),
        None => hw.runtimes[hw.default_runtime].clone(),
    };
    let host = hw.host as u16;
    // Placement per modality or stage.
    let mut by_modality: HashMap<u16, u16> = HashMap::new();
    let mut by_stage: HashMap<Stage, u16> = HashMap::new();
    let device_of = |name: &str| -> Result<u16> {
        hw.device_index(name)
            .map(|d| d as u16)
            .ok_or_else(|| Error::unknown("device", name, hw.devices.iter().map(|d| d.name.as_str())))
    };
    for (branch, dev) in &opts.placement.assignments {
        let d = device_of(dev)?;
        if let Some(m) = w.modalities.iter().position(|m| m == branch) {
            by_modality.insert(m as u16, d);
        } else if branch == "fusion" {
            by_stage.insert(Stage::Fusion, d);
        } else if branch == "head" {
            by_stage.insert(Stage::Head, d);
        } else {
            let known = w.modalities.iter().map(String::as_str).chain(["fusion", "head"]);
            return Err(Error::unknown("branch to place", branch, known));
        }
    }
    let n = w.len();
    let mut ops: Vec<SimOp> = Vec::with_capacity(n + 8);
    let mut all_deps: Vec<u32> = Vec::with_capacity(2 * n);
    // Scratch lists reused for every op.
    let mut pending: Vec<u32> = Vec::new();
    let mut waited: Vec<Resource> = Vec::new();
    let rates: Vec<DeviceRates> = hw.devices.iter().map(|d| DeviceRates::new(d, &runtime)).collect();
    let mut loc: Vec<Loc> = vec![Loc::Anywhere; n];
    let mut producer: Vec<Option<u32>> = vec![None; n];
    let mut node_device: Vec<u16> = vec![hw.default_device as u16; n];
    // Copies made so far, by (consumed value, destination): each value crosses to a device once, and two
    // slices of one tensor are two copies of their own sizes.
    let mut copies: HashMap<(u32, u16), u32> = HashMap::new();
    // The last op issued on every (device, stream): a copy is ordered after the work already queued on the
    // devices it touches, as `cudaMemcpy` on the legacy default stream is.
    let mut last_on: HashMap<(u16, u32), u32> = HashMap::new();
    let mut streams_used: Vec<Vec<u32>> = vec![Vec::new(); hw.devices.len()];
    let op_overhead = runtime.op_overhead_us * 1e-6;
    let launch = runtime.launch_overhead_us * 1e-6;
    let sync = runtime.sync_overhead_us * 1e-6;
    let mut off_host_kernels = 0u64;

    // What each op runs as: a grouped convolution, one of a channels-last tensor.
    let variants = crate::graph::layout::variants(w);
    for (idx, node) in w.nodes() {
        let i = idx.index();
        match (&node.op, node.cost.class) {
            (Op::Input(_), _) => {
                loc[i] = if runtime.input_copy { Loc::At(host) } else { Loc::Anywhere };
                producer[i] = Some(ops.len() as u32);
                node_device[i] = host;
                ops.push(SimOp {
                    node: Some(i as u32),
                    kind: RecordKind::Input,
                    stage: node.stage,
                    modality: node.modality,
                    resource: Resource::None,
                    device: host,
                    duration_s: 0.0,
                    host_cost_s: 0.0,
                    blocking: false,
                    occupancy: 0.0,
                    deps: 0..0,
                    time: OpTime::ZERO,
                    bytes: 0,
                    kernels: 0,
                });
                continue;
            }
            (Op::Weight(_), _) => continue,
            (_, OpClass::View) | (_, OpClass::Source) => {
                // A view aliases its input.
                if let Some(&src) = node.inputs.first() {
                    loc[i] = loc[src.index()];
                    producer[i] = producer[src.index()];
                    node_device[i] = node_device[src.index()];
                }
                continue;
            }
            _ => {}
        }
        // Host work stays on the host; a what-if placement (`--place`) beats the workload's own pin, which
        // beats the default device.
        let dev: u16 = if matches!(node.op, Op::HostWork(_)) {
            host
        } else if let Some(d) = node.modality.and_then(|m| by_modality.get(&m)) {
            *d
        } else if let (Some(d), None) = (by_stage.get(&node.stage), node.modality) {
            *d
        } else if let Some(pin) = &node.device {
            device_of(pin).map_err(|e| Error::input(crate::error::Location::default().node(&node.name), e.to_string()))?
        } else if let Some(d) = by_stage.get(&node.stage) {
            *d
        } else {
            hw.default_device as u16
        };
        node_device[i] = dev;
        let stream = match runtime.streams {
            Streams::Single => 0,
            Streams::PerBranch => node.modality.map_or(0, |m| u32::from(m) + 1),
        };
        if !streams_used[dev as usize].contains(&stream) {
            streams_used[dev as usize].push(stream);
        }
        // Inputs that live on another device are copied first (once per value and destination).
        pending.clear();
        for &p in &node.inputs {
            let pi = p.index();
            let Some(prod) = producer[pi] else { continue };
            let dep = match loc[pi] {
                Loc::At(src) if src != dev => {
                    if let Some(&c) = copies.get(&(pi as u32, dev)) {
                        c
                    } else {
                        let link = hw.link(src as usize, dev as usize).ok_or_else(|| {
                            Error::input(
                                crate::error::Location::default().node(&node.name),
                                format!(
                                    "needs data from device `{}` on `{}`, but hardware `{}` has no link between them",
                                    hw.devices[src as usize].name, hw.devices[dev as usize].name, hw.name
                                ),
                            )
                        })?;
                        let li = hw.links.iter().position(|l| std::ptr::eq(l, link)).unwrap() as u16;
                        let bytes = w.graph[p].output.bytes();
                        let prod_op = &ops[prod as usize];
                        let (stage, modality) = (prod_op.stage, prod_op.modality);
                        let c = ops.len() as u32;
                        let own = all_deps.len() as u32;
                        all_deps.push(prod);
                        for (&(d, _), &last) in last_on.iter() {
                            if (d == src || d == dev) && d != host && last != prod {
                                all_deps.push(last);
                            }
                        }
                        // Keep the dependency list in a deterministic order (the map's order is not).
                        all_deps[own as usize + 1..].sort_unstable();
                        let own_end = all_deps.len() as u32;
                        ops.push(SimOp {
                            node: None,
                            kind: RecordKind::Transfer,
                            stage,
                            modality,
                            resource: Resource::Link(li),
                            device: dev,
                            duration_s: transfer_time(bytes, link.bw_gbs, link.latency_us),
                            host_cost_s: op_overhead + launch,
                            blocking: true,
                            occupancy: 1.0,
                            deps: own..own_end,
                            time: OpTime::ZERO,
                            bytes,
                            kernels: 1,
                        });
                        copies.insert((pi as u32, dev), c);
                        c
                    }
                }
                _ => prod,
            };
            if !pending.contains(&dep) {
                pending.push(dep);
            }
        }
        // This op's dependencies go to the arena after any copies it needed, so they stay contiguous.
        let deps_start = all_deps.len() as u32;
        all_deps.extend_from_slice(&pending);
        let deps_range = deps_start..all_deps.len() as u32;
        loc[i] = Loc::At(dev);
        // Op-kind curves and GEMM kernels exist only on calibrated devices; the lookups are skipped otherwise
        // (sweeps).
        let dev_rates = &rates[dev as usize];
        let d = dev_rates.device;
        let on_host = dev == host;
        let layer = if on_host { None } else { layer_step(&runtime, &node.op) };
        let kind = if d.kernel_efficiency.is_empty() && d.broadcast_efficiency.is_empty() && d.gemm_paths.is_empty() && d.fold_paths.is_empty() {
            None
        } else {
            // A variant with a curve of its own (a grouped convolution, a fused recurrent layer's step) takes it.
            let variant = variants[i].or(layer.and_then(|(_, _, fused)| fused.then_some(crate::hardware::FUSED)));
            let own = variant.map(|v| format!("{}@{v}", node.op.kind())).filter(|k| d.kernel_efficiency.contains_key(k));
            Some(own.unwrap_or_else(|| node.op.kind()))
        };
        // Off the host, an op launches the kernels its runtime measured for its kind (cuDNN's own count).
        let kernels = if on_host { node.cost.kernels } else { runtime.kernels_of(&node.op.launch_key_as(variants[i]), node.cost.kernels, node.op.groups()) };
        // A step of a recurrent layer whose library the runtime describes: a fused layer launches its
        // kernels from its first step, and a layer's first step pays the layer's preparation.
        let launched = match layer {
            Some((calls, 0, true)) => calls.fused_kernels.saturating_sub(1),
            Some((_, _, true)) => 0,
            _ => kernels,
        };
        let time = if launched == node.cost.kernels {
            op_time_with(&node.cost, dev_rates, kind.as_deref())
        } else {
            op_time_with(&crate::graph::OpCost { kernels: launched, ..node.cost.clone() }, dev_rates, kind.as_deref())
        };
        if !on_host {
            off_host_kernels += u64::from(launched);
        }
        // A call whose host cost was measured for its kind (and variant) costs that instead of `op_overhead_us`.
        let measured = variants[i].and_then(|v| runtime.call_overhead_us.get(&format!("{}@{v}", node.op.kind()))).or_else(|| runtime.call_overhead_us.get(&node.op.kind()));
        let dispatch = match measured {
            _ if node.continues_call => 0.0,
            Some(us) if !on_host => us * 1e-6,
            _ => op_overhead,
        };
        // A layer's step costs what the runtime measured for layers instead: its host cost per step (none
        // when fused) and, on the first step, the layer's preparation.
        let mut host_cost = match layer {
            Some((calls, step, fused)) => (if fused { 0.0 } else { calls.step_us * 1e-6 }) + if step == 0 { calls.layer_us * 1e-6 } else { 0.0 },
            None => dispatch + if on_host { 0.0 } else { f64::from(launched) * launch },
        };
        // A dependency on another stream of a device needs an event wait.
        let my_res = Resource::Stream(dev, stream);
        waited.clear();
        for &dep in &pending {
            let r = ops[dep as usize].resource;
            if let Resource::Stream(..) = r
                && r != my_res && !ops[dep as usize].blocking && !waited.contains(&r) {
                    waited.push(r);
                    host_cost += sync;
                }
        }
        producer[i] = Some(ops.len() as u32);
        last_on.insert((dev, stream), ops.len() as u32);
        ops.push(SimOp {
            node: Some(i as u32),
            kind: RecordKind::Op,
            stage: node.stage,
            modality: node.modality,
            resource: my_res,
            device: dev,
            duration_s: time.total_s,
            host_cost_s: host_cost,
            blocking: on_host,
            occupancy: time.occupancy,
            deps: deps_range,
            time,
            bytes: node.cost.bytes(),
            kernels: launched,
        });
    }
    // Views and weights report the device of their first consumer when they have one.
    for (idx, node) in w.nodes().collect::<Vec<_>>().into_iter().rev() {
        if matches!(node.op, Op::Weight(_))
            && let Some(c) = w.consumers(idx).next() {
                node_device[idx.index()] = node_device[c.index()];
            }
    }
    let runs_off_host = ops.iter().any(|o| o.kind == RecordKind::Op && o.device != host);
    Ok(Plan {
        ops,
        deps: all_deps,
        // The final sync waits for everything submitted off the host, and pays per kernel submitted.
        final_sync_s: if runs_off_host { sync + off_host_kernels as f64 * runtime.submit_per_kernel_us * 1e-6 } else { 0.0 },
        max_concurrent: hw.devices.iter().map(|d| d.max_concurrent_kernels).collect(),
        streams_per_device: streams_used.iter().map(|s| s.len() as u32).collect(),
        runtime,
        node_device,
    })
}

/// The recurrent layer a cell is a step of, where the runtime says how its library runs layers of the cell's
/// kind: the layer's costs, the step, and whether the layer runs fused.
fn layer_step<'a>(runtime: &'a Runtime, op: &Op) -> Option<(&'a RecurrentLayerCalls, usize, bool)> {
    let (hidden, step) = match op {
        Op::GruCell(c) => (c.hidden, c.step?),
        Op::LstmCell(c) => (c.hidden, c.step?),
        _ => return None,
    };
    let calls = runtime.recurrent_layers.get(&op.kind())?;
    Some((calls, step, calls.fused(hidden)))
}

#[cfg(test)]
mod tests {
    use crate::graph::{load_workload, WorkloadOptions};
    use crate::hardware::load_hardware;
    use crate::predict::{predict, PredictOptions};

    #[test]
    fn a_measured_call_cost_replaces_the_dispatch_and_launch_cost_of_its_kind() {
        let w = load_workload("av-mnist", &WorkloadOptions { batch: Some(1), ..Default::default() }).unwrap();
        let mut hw = load_hardware("h100-datasheet", &[]).unwrap();
        let base = predict(&w, &hw, &PredictOptions::default()).unwrap().latency_s;
        let convs = w.nodes().filter(|(_, n)| n.op.kind() == "conv2d").count() as f64;
        let rt = hw.runtimes.iter_mut().find(|r| r.name == "eager").unwrap();
        let old_us = rt.op_overhead_us;
        rt.call_overhead_us.insert("conv2d".into(), 500.0);
        let slow = predict(&w, &hw, &PredictOptions::default()).unwrap().latency_s;
        // At batch 1 the host issues every call after the last: each convolution's call now costs 500 us
        // besides its launch, in place of the framework's dispatch.
        let added = (slow - base) * 1e6;
        let want = convs * (500.0 - old_us);
        assert!((added - want).abs() < 0.02 * want, "added {added:.1} us, want {want:.1} us");
    }

    #[test]
    fn a_runtime_launches_the_kernels_it_measured_for_an_op_kind() {
        // medical-seg's convolutions are biased 3-D ones; say the runtime launches 3 kernels for each: the
        // prediction counts them, and the extra launches cost time.
        let w = load_workload("medical-seg", &WorkloadOptions { batch: Some(1), scale: Some(0.25), ..Default::default() }).unwrap();
        let mut hw = load_hardware("h100-datasheet", &[]).unwrap();
        let rt_name = hw.runtimes[hw.default_runtime].name.clone();
        let report = |hw: &crate::hardware::Hardware| crate::report::PredictReport::new(&w, hw, &crate::predict::predict(&w, hw, &PredictOptions::default()).unwrap());
        let before = report(&hw);
        let base = before.kernels;
        assert_eq!(base, w.kernels(), "without measured counts the model's own");
        let biased = w.nodes().filter(|(_, n)| n.op.launch_key() == "conv3d+bias").count() as u64;
        assert!(biased > 0);
        let rt = hw.runtimes.iter_mut().find(|r| r.name == rt_name).unwrap();
        rt.kernels_per_op.insert("conv3d+bias".into(), 3);
        let after = report(&hw);
        assert_eq!(after.kernels, base + 2 * biased);
        assert!(after.latency_ms > before.latency_ms);
    }

    #[test]
    fn a_fused_recurrent_layer_launches_its_kernels_once_and_pays_its_preparation() {
        // cmu-mosei's vision GRU (70 units, 50 steps) runs fused, its audio (200) and text (600) GRUs per
        // step, when the runtime says layers of up to 128 units run fused in 5 kernels.
        let w = load_workload("cmu-mosei", &WorkloadOptions { batch: Some(1), ..Default::default() }).unwrap();
        let mut hw = load_hardware("h100-datasheet", &[]).unwrap();
        let report = |hw: &crate::hardware::Hardware| crate::report::PredictReport::new(&w, hw, &crate::predict::predict(&w, hw, &PredictOptions::default()).unwrap());
        let before = report(&hw);
        let vision_cells: u64 = w.nodes().filter(|(_, n)| n.op.kind() == "gru_cell" && n.name.starts_with("vision/")).map(|(_, n)| u64::from(n.cost.kernels)).sum();
        assert!(vision_cells > 50);
        let rt = hw.runtimes.iter_mut().find(|r| r.name == "eager").unwrap();
        let calls = crate::hardware::RecurrentLayerCalls { layer_us: 1000.0, step_us: 0.0, fused_max_hidden: 128, fused_kernels: 5 };
        rt.recurrent_layers.insert("gru_cell".into(), calls);
        let after = report(&hw);
        // The vision layer's cells launch 4 kernels (its projection the fifth), not 2 per step.
        assert_eq!(after.kernels, before.kernels - vision_cells + 4);
        // Each of the three layers pays 1 ms of preparation on the host, one after another at batch 1.
        assert!(after.latency_ms > before.latency_ms + 2.0, "{} -> {}", before.latency_ms, after.latency_ms);
    }
}
