//! What one op costs, independent of hardware: FLOPs, bytes moved, parameters, kernel launches, and the
//! shape of its GEMM when it has one (for wave quantization).
//!
//! Counting conventions (every op family follows them; tests check them against hand counts):
//! - a multiply-accumulate is 2 FLOPs; an add, multiply, compare or select is 1; transcendental functions
//!   cost what `UnaryFn::flops_per_element` lists;
//! - bytes read = every input tensor once + weights (and inference-only buffers such as BatchNorm running
//!   statistics) once; bytes written = the output once. This is the traffic of an ideal cache;
//! - parameters are what a framework registers: weights, biases and norm affine parameters.

use serde::{Deserialize, Serialize};

/// The broad kind of work an op does. The cost model keeps one efficiency curve per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OpClass {
    /// Dense linear algebra: Linear, batched MatMul, recurrent cells.
    Matmul,
    /// Convolutions (implicit GEMM).
    Conv,
    /// One output element from a few input elements: activations, binary ops, BatchNorm at inference.
    Elementwise,
    /// Reductions and normalizations that need statistics: softmax, LayerNorm, pooling, sum/mean.
    Reduction,
    /// Data movement: concat, permute, slice, pad, upsample, embedding gathers.
    Movement,
    /// Free: a reshape or view, no kernel.
    View,
    /// An input tensor; it costs nothing but a host-to-device copy, which the simulator adds.
    Source,
    /// Opaque work on the host CPU outside the network (feature extraction, tokenizers).
    Host,
}

impl OpClass {
    pub const ALL_COMPUTE: [OpClass; 5] =
        [OpClass::Matmul, OpClass::Conv, OpClass::Elementwise, OpClass::Reduction, OpClass::Movement];

    pub fn name(self) -> &'static str {
        match self {
            OpClass::Matmul => "matmul",
            OpClass::Conv => "conv",
            OpClass::Elementwise => "elementwise",
            OpClass::Reduction => "reduction",
            OpClass::Movement => "movement",
            OpClass::View => "view",
            OpClass::Source => "source",
            OpClass::Host => "host",
        }
    }

    /// Whether an op of this class launches at least one kernel.
    pub fn launches_kernel(self) -> bool {
        !matches!(self, OpClass::View | OpClass::Source)
    }
}

/// A GEMM of `batch` independent `[m, k] x [k, n]` products (implicit GEMM for convolutions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GemmShape {
    pub batch: u64,
    pub m: u64,
    pub n: u64,
    pub k: u64,
    /// Kernel taps the reduction runs over (a convolution's window volume; 1 for a GEMM): k is `taps` times
    /// the input channels per tap, which a kernel may read in packs (`GemmPath::k_pack`).
    #[serde(default = "one_tap")]
    pub taps: u64,
}

fn one_tap() -> u64 {
    1
}

/// The hardware-independent cost of one op.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpCost {
    pub flops: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Registered parameters of this op (counted once per weight group by the workload).
    pub params: u64,
    pub class: OpClass,
    /// The GEMM this op performs, if it is one.
    pub gemm: Option<GemmShape>,
    /// Elements each output folds, for reductions and normalizations that are no GEMM (a mean's reduced
    /// count, a layer norm's row): like a GEMM's k, the length a per-output cost (`k_overhead`) divides.
    /// Their kernels spend a workgroup, or a loop and a tree, per output row: many short rows cost more than
    /// few long ones of the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<u64>,
    /// Whether an element-wise op's operands broadcast to its output (a bias, a gate, a mask over
    /// channels): its kernel finds each operand's element through strides, index arithmetic that costs more
    /// than the arithmetic itself (a broadcast `mul` streams a sixth of a same-shape one's bytes per second on
    /// lavapipe). Devices may give such ops curves of their own (`Device::broadcast_efficiency`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
    /// Kernels the op launches (0 for views and inputs; 2 for a recurrent step: GEMM then pointwise).
    pub kernels: u32,
    /// Compute units (cores) the op can use at most, when fewer than the device has: single-threaded host
    /// code (a Python feature extractor) uses one core of a 64-core CPU. `None`: all of them.
    pub max_units: Option<u32>,
}

impl OpCost {
    /// A cost with the given class and no work; fill in the rest with struct update syntax.
    pub fn of(class: OpClass) -> Self {
        OpCost {
            flops: 0,
            bytes_read: 0,
            bytes_written: 0,
            params: 0,
            class,
            gemm: None,
            fold: None,
            broadcast: false,
            kernels: u32::from(class.launches_kernel()),
            max_units: None,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes_read + self.bytes_written
    }

    /// The length each output reduces over: a GEMM's k, else what a reduction or normalization folds.
    pub fn reduction_length(&self) -> Option<u64> {
        self.gemm.map(|g| g.k).or(self.fold).filter(|&k| k > 0)
    }

    /// FLOPs per byte moved.
    pub fn intensity(&self) -> f64 {
        let b = self.bytes();
        if b == 0 { 0.0 } else { self.flops as f64 / b as f64 }
    }
}
