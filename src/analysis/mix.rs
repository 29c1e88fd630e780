//! Heterogeneity of the work: which op types, and which of MMBench's kernel buckets (WORKLOADS.md §13.3:
//! relu, conv, bnorm, elewise, pooling, gemm, reduce, other), make up each stage, by count and by busy time.
//! Only op records count (not input arrivals or copies), as Nsight's kernel summary leaves copies out.

use super::{in_scope, scopes};
use crate::graph::{OpClass, Stage};
use crate::trace::Trace;
use serde::Serialize;

/// MMBench's kernel-category buckets, in the order its script tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelBucket {
    Relu,
    Conv,
    Bnorm,
    Elewise,
    Pooling,
    Gemm,
    Reduce,
    Other,
}

impl KernelBucket {
    pub const ALL: [KernelBucket; 8] = [
        KernelBucket::Relu,
        KernelBucket::Conv,
        KernelBucket::Bnorm,
        KernelBucket::Elewise,
        KernelBucket::Pooling,
        KernelBucket::Gemm,
        KernelBucket::Reduce,
        KernelBucket::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelBucket::Relu => "relu",
            KernelBucket::Conv => "conv",
            KernelBucket::Bnorm => "bnorm",
            KernelBucket::Elewise => "elewise",
            KernelBucket::Pooling => "pooling",
            KernelBucket::Gemm => "gemm",
            KernelBucket::Reduce => "reduce",
            KernelBucket::Other => "other",
        }
    }

    /// The bucket MMBench's Nsight script would put this op's kernels in. The script tests substrings of CUDA
    /// kernel names (`relu`, `conv`, `norm`, `elementwise`, `pool`, `gemm`/`gemv`, `reduce`); our op type
    /// names are tested for the same substrings where they carry them, and the rest go by what PyTorch
    /// launches for them: `linear` and `matmul` run cuBLAS GEMMs, the remaining element-wise ops (add,
    /// sigmoid, GELU, …) run `elementwise_kernel`. Softmax, recurrent cells, copies and gathers are `other`,
    /// as in MMBench's own table.
    pub fn of(op: &str, class: OpClass) -> KernelBucket {
        if op.contains("relu") {
            KernelBucket::Relu
        } else if op.contains("conv") {
            KernelBucket::Conv
        } else if op.contains("norm") {
            KernelBucket::Bnorm
        } else if op.contains("pool") {
            KernelBucket::Pooling
        } else if op.contains("gemm") || op.contains("gemv") || matches!(op, "linear" | "matmul" | "bmm") {
            KernelBucket::Gemm
        } else if op.starts_with("reduce") {
            KernelBucket::Reduce
        } else if class == OpClass::Elementwise || op.contains("elementwise") {
            KernelBucket::Elewise
        } else {
            KernelBucket::Other
        }
    }
}

/// Count and busy time of one op type or bucket within one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixEntry {
    /// The stage, or `None` for the whole inference.
    pub stage: Option<Stage>,
    /// The op type (`conv2d`) or bucket name (`conv`).
    pub key: String,
    pub ops: usize,
    pub kernels: u64,
    /// Sum of the ops' durations.
    pub seconds: f64,
    /// `seconds` over the busy time of all ops of the scope (MMBench's "Time (%)").
    pub share: f64,
}

/// The op-type and bucket mix of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpMix {
    /// Per scope, op types by decreasing time.
    pub op_types: Vec<MixEntry>,
    /// Per scope, every bucket in MMBench's order (zeros included, as its table prints them).
    pub buckets: Vec<MixEntry>,
}

pub fn op_mix(t: &Trace) -> OpMix {
    let ops: Vec<_> = t.ops.iter().filter(|r| r.is_kernel_work()).collect();
    let mut op_types = Vec::new();
    let mut buckets = Vec::new();
    for scope in scopes(t) {
        let rows: Vec<_> = ops.iter().filter(|r| in_scope(scope, r.stage)).collect();
        let busy: f64 = rows.iter().map(|r| r.duration_s()).sum();
        let share = |s: f64| if busy > 0.0 { s / busy } else { 0.0 };
        let entry = |key: &str| MixEntry { stage: scope, key: key.to_string(), ops: 0, kernels: 0, seconds: 0.0, share: 0.0 };
        let mut by_type: Vec<MixEntry> = Vec::new();
        let mut by_bucket: Vec<MixEntry> = KernelBucket::ALL.iter().map(|b| entry(b.name())).collect();
        for r in rows {
            let pos = by_type.iter().position(|e| e.key == r.op).unwrap_or_else(|| {
                by_type.push(entry(&r.op));
                by_type.len() - 1
            });
            let bucket = KernelBucket::of(&r.op, r.class) as usize;
            for e in [&mut by_type[pos], &mut by_bucket[bucket]] {
                e.ops += 1;
                e.kernels += u64::from(r.kernels);
                e.seconds += r.duration_s();
            }
        }
        for e in by_type.iter_mut().chain(by_bucket.iter_mut()) {
            e.share = share(e.seconds);
        }
        by_type.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then_with(|| a.key.cmp(&b.key)));
        op_types.extend(by_type);
        buckets.extend(by_bucket);
    }
    OpMix { op_types, buckets }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use KernelBucket as K;

    #[test]
    fn op_types_land_in_mmbench_buckets() {
        let cases = [
            ("conv2d", OpClass::Conv, K::Conv),
            ("conv_transpose3d", OpClass::Conv, K::Conv),
            ("relu", OpClass::Elementwise, K::Relu),
            ("leaky_relu", OpClass::Elementwise, K::Relu),
            ("batch_norm", OpClass::Elementwise, K::Bnorm),
            ("layer_norm", OpClass::Reduction, K::Bnorm),
            ("instance_norm", OpClass::Reduction, K::Bnorm),
            ("add", OpClass::Elementwise, K::Elewise),
            ("sigmoid", OpClass::Elementwise, K::Elewise),
            ("max_pool2d", OpClass::Reduction, K::Pooling),
            ("adaptive_avg_pool2d", OpClass::Reduction, K::Pooling),
            ("linear", OpClass::Matmul, K::Gemm),
            ("matmul", OpClass::Matmul, K::Gemm),
            ("reduce_mean", OpClass::Reduction, K::Reduce),
            ("softmax", OpClass::Reduction, K::Other),
            ("gru_cell", OpClass::Matmul, K::Other),
            ("concat", OpClass::Movement, K::Other),
            ("embedding", OpClass::Movement, K::Other),
            ("transfer", OpClass::Movement, K::Other),
        ];
        for (op, class, want) in cases {
            assert_eq!(KernelBucket::of(op, class), want, "{op}");
        }
    }

    /// A LeNet-like encoder block (4 ms), a concat (0.2 ms) and an MLP head (0.8 ms), serial.
    fn lenet_like() -> Trace {
        use crate::graph::Stage::*;
        let e = |name: &str, ty: &str, class: OpClass, a: f64, b: f64, k: u32| work(op(name, Encoder, Some(0), 0, a, b, &[]), ty, class, 0, 0, k);
        let mut ops = vec![
            e("conv", "conv2d", OpClass::Conv, 0.0, 2.0, 2),
            e("bn", "batch_norm", OpClass::Elementwise, 2.0, 2.5, 1),
            e("relu", "relu", OpClass::Elementwise, 2.5, 3.0, 1),
            e("pool", "max_pool2d", OpClass::Reduction, 3.0, 3.5, 1),
            e("gap", "reduce_mean", OpClass::Reduction, 3.5, 4.0, 1),
            work(op("cat", Fusion, None, 0, 4.0, 4.2, &[]), "concat", OpClass::Movement, 0, 0, 1),
        ];
        for (name, ty, class, a, b) in [("fc1", "linear", OpClass::Matmul, 4.2, 4.6), ("act", "relu", OpClass::Elementwise, 4.6, 4.7), ("fc2", "linear", OpClass::Matmul, 4.7, 5.0)] {
            ops.push(work(op(name, Head, None, 0, a, b, &[]), ty, class, 0, 0, 1));
        }
        trace(ops, 5.0)
    }

    fn find<'a>(v: &'a [MixEntry], stage: Option<Stage>, key: &str) -> &'a MixEntry {
        v.iter().find(|e| e.stage == stage && e.key == key).unwrap_or_else(|| panic!("no {key} in {stage:?}"))
    }

    #[test]
    fn bucket_shares_are_of_each_stage_busy_time() {
        let m = op_mix(&lenet_like());
        // Four scopes (encoder, fusion, head, all), eight buckets each.
        assert_eq!(m.buckets.len(), 32);
        let enc = Some(Stage::Encoder);
        assert!(close(find(&m.buckets, enc, "conv").share, 0.5));
        assert_eq!(find(&m.buckets, enc, "conv").kernels, 2);
        for b in ["bnorm", "relu", "pooling", "reduce"] {
            assert!(close(find(&m.buckets, enc, b).share, 0.125), "{b}");
        }
        assert_eq!(find(&m.buckets, enc, "gemm").ops, 0);
        assert!(close(find(&m.buckets, Some(Stage::Fusion), "other").share, 1.0));
        let head_gemm = find(&m.buckets, Some(Stage::Head), "gemm");
        assert_eq!(head_gemm.ops, 2);
        assert!(close(head_gemm.share, 0.7 / 0.8), "{}", head_gemm.share);
        // Whole inference: relu ops of the encoder and head together, 0.6 of 5 ms.
        let all_relu = find(&m.buckets, None, "relu");
        assert_eq!(all_relu.ops, 2);
        assert!(close(all_relu.share, 0.6 / 5.0));
        let total: f64 = m.buckets.iter().filter(|e| e.stage.is_none()).map(|e| e.share).sum();
        assert!(close(total, 1.0));
    }

    #[test]
    fn op_types_come_by_decreasing_time() {
        let m = op_mix(&lenet_like());
        let head: Vec<(&str, usize)> = m.op_types.iter().filter(|e| e.stage == Some(Stage::Head)).map(|e| (e.key.as_str(), e.ops)).collect();
        assert_eq!(head, [("linear", 2), ("relu", 1)]);
        let all: Vec<&str> = m.op_types.iter().filter(|e| e.stage.is_none()).map(|e| e.key.as_str()).collect();
        assert_eq!(all[0], "conv2d");
        assert!(close(find(&m.op_types, None, "linear").seconds, 0.7e-3));
    }
}
