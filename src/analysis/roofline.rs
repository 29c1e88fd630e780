//! Where each op sits under its device's roofline: arithmetic intensity, achieved FLOP/s and bandwidth
//! against the device's peaks, and what bounds it. Everything comes from the trace's times and FLOP/byte
//! counts and the hardware description's peaks, never from the predictor's internals, so predicted and
//! measured traces are classified alike.
//!
//! For an op of duration `d`, `F` FLOPs and `B` bytes on a device with peak `P` FLOP/s (for the op's class,
//! under the runtime's math mode) and bandwidth `W` B/s:
//!
//! ```text
//! roofline = max(F / P, B / W)              the shortest time the op could take
//! overhead-bound  if roofline < 0.5 · d     more than half the time is not explained by the work: launch
//!                                           and fixed costs, or a kernel too small to fill the device
//! compute-bound   else if F / P >= B / W
//! memory-bound    otherwise
//! ```

use super::{in_scope, scopes};
use crate::graph::{OpClass, Stage};
use crate::hardware::Hardware;
use crate::predict::cost_model::math_mode;
use crate::predict::Bound;
use crate::trace::Trace;
use serde::Serialize;

/// An op is overhead-bound when its roofline time is below this fraction of its duration.
pub const OVERHEAD_BOUND_BELOW: f64 = 0.5;

/// The roof of one device: peak FLOP/s for each op class under the runtime's math modes, and bandwidth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRoof {
    pub device: String,
    /// Convolutions and matmuls may run in another math mode than the rest (TF32 convolutions on Ampere).
    pub conv_math: String,
    pub conv_flops: f64,
    pub matmul_math: String,
    pub matmul_flops: f64,
    pub fp32_flops: f64,
    /// Bytes per second.
    pub mem_bw: f64,
}

impl DeviceRoof {
    /// One peak for every op class.
    pub fn uniform(device: &str, flops: f64, mem_bw: f64) -> Self {
        DeviceRoof { device: device.into(), conv_math: "fp32".into(), conv_flops: flops, matmul_math: "fp32".into(), matmul_flops: flops, fp32_flops: flops, mem_bw }
    }

    /// The roofs of a trace's devices (indexed like [`Trace::devices`]) from a hardware description: the
    /// device of the same name, with the math modes of the trace's runtime, or fp32 throughout when the
    /// hardware has no runtime of that name. `None` for a device the hardware does not describe.
    pub fn for_trace(t: &Trace, hw: &Hardware) -> Vec<Option<DeviceRoof>> {
        let rt = hw.runtime(&t.runtime).ok();
        t.devices
            .iter()
            .map(|name| {
                let d = &hw.devices[hw.device_index(name)?];
                let math = |class: OpClass| rt.map_or("fp32", |rt| math_mode(class, rt)).to_string();
                let (conv_math, matmul_math) = (math(OpClass::Conv), math(OpClass::Matmul));
                Some(DeviceRoof {
                    device: name.clone(),
                    conv_flops: d.peak_flops(&conv_math),
                    matmul_flops: d.peak_flops(&matmul_math),
                    conv_math,
                    matmul_math,
                    fp32_flops: d.peak_flops("fp32"),
                    mem_bw: d.mem_bw(),
                })
            })
            .collect()
    }

    pub fn peak_flops(&self, class: OpClass) -> f64 {
        match class {
            OpClass::Conv => self.conv_flops,
            OpClass::Matmul => self.matmul_flops,
            _ => self.fp32_flops,
        }
    }

    /// The distinct compute ceilings, highest first, labelled by math mode and the classes that use them
    /// (`tf32 (conv)`, `fp32`).
    pub fn ceilings(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = vec![("fp32".to_string(), self.fp32_flops)];
        for (math, flops, class) in [(&self.conv_math, self.conv_flops, "conv"), (&self.matmul_math, self.matmul_flops, "matmul")] {
            match out.iter_mut().find(|(_, f)| *f == flops) {
                Some(_) => {}
                None => out.push((format!("{math} ({class})"), flops)),
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

/// One op placed under its device's roof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpPoint {
    /// Index of the record in the trace.
    pub record: u32,
    pub name: String,
    pub op: String,
    pub stage: Stage,
    pub modality: Option<String>,
    pub device: String,
    pub seconds: f64,
    pub flops: u64,
    pub bytes: u64,
    /// FLOPs per byte; `None` for an op that moves no bytes.
    pub intensity: Option<f64>,
    /// The peak FLOP/s that applies to this op.
    pub peak_flops: f64,
    /// `max(flops / peak, bytes / bandwidth)`.
    pub roofline_s: f64,
    /// FLOP/s and bytes per second achieved over the op's duration.
    pub achieved_flops: f64,
    pub achieved_bw: f64,
    /// Achieved over peak FLOP/s, and over peak bandwidth.
    pub compute_util: f64,
    pub memory_util: f64,
    /// `Compute`, `Memory` or `Overhead` (see the module documentation).
    pub bound: Bound,
}

/// Intensity, utilization and bound shares of one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageUtilization {
    /// The stage, or `None` for the whole inference.
    pub stage: Option<Stage>,
    pub ops: usize,
    /// Busy time: the sum of the ops' durations.
    pub seconds: f64,
    pub flops: u64,
    pub bytes: u64,
    /// Total FLOPs over total bytes.
    pub intensity: Option<f64>,
    /// Total FLOPs, and bytes, over busy time.
    pub achieved_flops: f64,
    pub achieved_bw: f64,
    /// The time the ops would take at their peak FLOP/s (`Σ flops_i / peak_i`), over their busy time; the same
    /// for bytes and bandwidth. Time-weighted, so ops under different math modes add up.
    pub compute_util: f64,
    pub memory_util: f64,
    /// Busy time of compute-, memory- and overhead-bound ops, and their shares of `seconds`.
    pub compute_bound_s: f64,
    pub memory_bound_s: f64,
    pub overhead_bound_s: f64,
    pub compute_bound_share: f64,
    pub memory_bound_share: f64,
    pub overhead_bound_share: f64,
}

/// The roofline view of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roofline {
    /// The roofs of the devices that ran ops.
    pub devices: Vec<DeviceRoof>,
    pub ops: Vec<OpPoint>,
    /// Per stage, then the whole inference.
    pub stages: Vec<StageUtilization>,
    /// Op records left out: no duration, or a device without a roof.
    pub skipped: usize,
}

/// Places every op record of `t` under the roof of its device (`roofs` is indexed like `t.devices`).
pub fn roofline(t: &Trace, roofs: &[Option<DeviceRoof>]) -> Roofline {
    let mut ops = Vec::new();
    let mut skipped = 0;
    let mut used = vec![false; roofs.len()];
    for (i, r) in t.ops.iter().enumerate().filter(|(_, r)| r.is_kernel_work()) {
        let d = r.duration_s();
        let Some(roof) = roofs.get(r.device as usize).and_then(Option::as_ref).filter(|_| d > 0.0) else {
            skipped += 1;
            continue;
        };
        used[r.device as usize] = true;
        let peak = roof.peak_flops(r.class);
        let (f, b) = (r.flops as f64, r.bytes as f64);
        let compute_s = if peak > 0.0 { f / peak } else { 0.0 };
        let memory_s = if roof.mem_bw > 0.0 { b / roof.mem_bw } else { 0.0 };
        let roofline_s = compute_s.max(memory_s);
        let bound = if roofline_s < OVERHEAD_BOUND_BELOW * d {
            Bound::Overhead
        } else if compute_s >= memory_s {
            Bound::Compute
        } else {
            Bound::Memory
        };
        ops.push(OpPoint {
            record: i as u32,
            name: r.name.clone(),
            op: r.op.clone(),
            stage: r.stage,
            modality: t.modality_name(r.modality).map(str::to_string),
            device: t.devices[r.device as usize].clone(),
            seconds: d,
            flops: r.flops,
            bytes: r.bytes,
            intensity: (r.bytes > 0).then(|| f / b),
            peak_flops: peak,
            roofline_s,
            achieved_flops: f / d,
            achieved_bw: b / d,
            compute_util: compute_s / d,
            memory_util: memory_s / d,
            bound,
        });
    }
    let stages = scopes(t).into_iter().map(|scope| utilization(scope, ops.iter().filter(|p| in_scope(scope, p.stage)))).collect();
    let devices = roofs.iter().zip(used).filter(|(_, u)| *u).filter_map(|(r, _)| r.clone()).collect();
    Roofline { devices, ops, stages, skipped }
}

fn utilization<'a>(stage: Option<Stage>, points: impl Iterator<Item = &'a OpPoint>) -> StageUtilization {
    let mut u = StageUtilization {
        stage,
        ops: 0,
        seconds: 0.0,
        flops: 0,
        bytes: 0,
        intensity: None,
        achieved_flops: 0.0,
        achieved_bw: 0.0,
        compute_util: 0.0,
        memory_util: 0.0,
        compute_bound_s: 0.0,
        memory_bound_s: 0.0,
        overhead_bound_s: 0.0,
        compute_bound_share: 0.0,
        memory_bound_share: 0.0,
        overhead_bound_share: 0.0,
    };
    let (mut at_peak_flops, mut at_peak_bw) = (0.0, 0.0);
    for p in points {
        u.ops += 1;
        u.seconds += p.seconds;
        u.flops += p.flops;
        u.bytes += p.bytes;
        at_peak_flops += p.compute_util * p.seconds;
        at_peak_bw += p.memory_util * p.seconds;
        match p.bound {
            Bound::Compute => u.compute_bound_s += p.seconds,
            Bound::Memory => u.memory_bound_s += p.seconds,
            _ => u.overhead_bound_s += p.seconds,
        }
    }
    u.intensity = (u.bytes > 0).then(|| u.flops as f64 / u.bytes as f64);
    if u.seconds > 0.0 {
        u.achieved_flops = u.flops as f64 / u.seconds;
        u.achieved_bw = u.bytes as f64 / u.seconds;
        u.compute_util = at_peak_flops / u.seconds;
        u.memory_util = at_peak_bw / u.seconds;
        u.compute_bound_share = u.compute_bound_s / u.seconds;
        u.memory_bound_share = u.memory_bound_s / u.seconds;
        u.overhead_bound_share = u.overhead_bound_s / u.seconds;
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;

    /// 10 TFLOP/s and 1000 GB/s: the ridge point is at 10 FLOP/byte.
    fn roof() -> Vec<Option<DeviceRoof>> {
        vec![Some(DeviceRoof::uniform("gpu", 10e12, 1e12))]
    }

    /// A GEMM at 83 % of peak, a memory-bound element-wise op at 80 % of bandwidth, a tiny op whose work takes
    /// 10 ns of its 5 µs, and one whose work takes 60 % of its duration.
    fn mixed() -> Trace {
        trace(
            vec![
                work(op("gemm", Stage::Encoder, Some(0), 0, 0.0, 0.12, &[]), "linear", OpClass::Matmul, 1_000_000_000, 1_000_000, 1),
                work(op("add", Stage::Encoder, Some(0), 0, 0.12, 0.245, &[]), "add", OpClass::Elementwise, 1_000_000, 100_000_000, 1),
                work(op("tiny", Stage::Head, None, 0, 0.245, 0.25, &[]), "relu", OpClass::Elementwise, 1_000, 10_000, 1),
                work(op("slow", Stage::Head, None, 0, 0.25, 0.27, &[]), "relu", OpClass::Elementwise, 0, 12_000_000, 1),
            ],
            0.27,
        )
    }

    #[test]
    fn ops_are_classified_against_the_roofline() {
        let r = roofline(&mixed(), &roof());
        let bounds: Vec<Bound> = r.ops.iter().map(|p| p.bound).collect();
        // `slow`: 12 MB at 1000 GB/s = 12 us of a 20 us op, not below half: memory-bound.
        assert_eq!(bounds, [Bound::Compute, Bound::Memory, Bound::Overhead, Bound::Memory]);
        let gemm = &r.ops[0];
        assert!(close(gemm.intensity.unwrap(), 1000.0));
        assert!(close(gemm.roofline_s, 1e-4));
        assert!((gemm.achieved_flops - 1e9 / 1.2e-4).abs() < 1.0);
        assert!(close(gemm.compute_util, 1.0 / 1.2));
        let add = &r.ops[1];
        assert!(close(add.memory_util, 0.8));
        assert!((add.achieved_bw - 0.8e12).abs() < 1.0);
        assert_eq!(r.ops[3].intensity, Some(0.0));
        assert_eq!(r.skipped, 0);
    }

    #[test]
    fn stage_shares_split_busy_time_by_bound() {
        let r = roofline(&mixed(), &roof());
        let all = r.stages.iter().find(|s| s.stage.is_none()).unwrap();
        // 0.27 ms busy: 0.12 compute, 0.125 + 0.02 memory, 0.005 overhead.
        assert!(close(all.seconds, 0.27e-3));
        assert!(close(all.compute_bound_share, 0.12 / 0.27));
        assert!(close(all.memory_bound_share, 0.145 / 0.27));
        assert!(close(all.overhead_bound_share, 0.005 / 0.27));
        let enc = r.stages.iter().find(|s| s.stage == Some(Stage::Encoder)).unwrap();
        assert_eq!(enc.ops, 2);
        assert!(close(enc.intensity.unwrap(), 1_001_000_000.0 / 101_000_000.0));
        // Time at peak: 0.1 ms of compute (GEMM) + 0.0001 ms (add); of 0.245 ms busy.
        assert!(close(enc.compute_util, (1e-4 + 1e-7) / 0.245e-3), "{}", enc.compute_util);
        assert!(close(enc.memory_util, (1e-6 + 1e-4) / 0.245e-3));
        let head = r.stages.iter().find(|s| s.stage == Some(Stage::Head)).unwrap();
        assert!(close(head.overhead_bound_share, 0.2));
    }

    #[test]
    fn ops_without_a_roof_or_a_duration_are_skipped() {
        let mut t = mixed();
        t.ops[3].end_s = t.ops[3].start_s;
        let r = roofline(&t, &roof());
        assert_eq!((r.ops.len(), r.skipped), (3, 1));
        let r = roofline(&t, &[None]);
        assert_eq!((r.ops.len(), r.skipped, r.devices.len()), (0, 4, 0));
    }

    #[test]
    fn conv_ceilings_follow_the_runtime_math_mode() {
        let mut d = DeviceRoof::uniform("gpu", 19.5e12, 1.5e12);
        d.conv_math = "tf32".into();
        d.conv_flops = 156e12;
        assert_eq!(d.peak_flops(OpClass::Conv), 156e12);
        assert_eq!(d.peak_flops(OpClass::Elementwise), 19.5e12);
        assert_eq!(d.ceilings(), [("tf32 (conv)".to_string(), 156e12), ("fp32".to_string(), 19.5e12)]);
    }
}
