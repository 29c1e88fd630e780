//! The kernels: one WGSL file per op family and, beside it, one Rust file that turns an op into dispatch
//! descriptions (entry point and specialization, uniform parameters, buffers, workgroup counts). Family files
//! only describe; [`super::plan`] compiles the pipelines once and binds the buffers.
//!
//! Adding a family takes `kernels/<family>.wgsl`, `kernels/<family>.rs` (a [`Kernel`] and a function that
//! returns [`Dispatch`]es) and one arm in [`dispatches`]; its CPU reference goes in `reference/`, and its
//! parameter layout, if it has parameters, in `params.rs`.

mod binary;
mod conv;
mod copy;
mod embedding;
mod matmul;
mod norm;
mod outer_product;
mod pool;
pub(super) mod recurrent;
mod pad;
mod reduce;
mod softmax;
mod unary;
mod upsample;

use crate::error::{Error, Result};
use crate::graph::{Node, Op, TensorInfo};

/// One shader module: WGSL sources compiled together, after [`COMMON`]. Usually one file; an optional fast
/// path that needs a device feature lives in its own file compiled after the family's main one.
#[derive(Debug)]
pub struct Kernel {
    pub name: &'static str,
    pub sources: &'static [&'static str],
}

/// What kernels may rely on about the device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCaps {
    /// Most workgroups per grid dimension of one dispatch (65535 on every adapter we know).
    pub max_groups: u32,
    /// Subgroup operations with subgroups of at least 8 invocations.
    pub subgroups: bool,
    /// A real GPU: GEMMs run on workgroup-memory tiles (`matmul_tiled.wgsl`), not on the register-blocked
    /// kernels written for CPU adapters.
    pub tiled_gemm: bool,
    /// Most bytes one storage binding covers: a larger tensor must be bound in windows.
    pub max_binding_bytes: u64,
    /// What the byte offset of a window must be a multiple of (the adapter's storage offset alignment).
    pub binding_alignment: u64,
}

impl DeviceCaps {
    /// The byte window (offset, size) a binding needs to cover `count` elements from element `first` of a
    /// buffer: from the aligned offset at or below the first element to the next 16-byte boundary past the
    /// last, because kernels that view a buffer as vec4s read whole vec4s (buffers are sized in multiples of
    /// 16 bytes, so the window stays inside its buffer). The tensor starts `first - offset / 4` elements into
    /// the window.
    pub fn window(&self, first: u64, count: u64) -> (u64, u64) {
        let start = first * 4 / self.binding_alignment * self.binding_alignment;
        let end = ((first + count) * 4).next_multiple_of(16).max(start + 16);
        (start, end - start)
    }

    /// Whether `count` elements from element `first` fit in one binding.
    pub fn fits(&self, first: u64, count: u64) -> bool {
        self.window(first, count).1 <= self.max_binding_bytes
    }
}

/// The longest run of `len` units from `lo` (at most `n - lo`) for which `fits(lo, len)` holds, 0 when not even
/// one unit fits. `fits` must be monotonic: a run that fits fits when shortened.
pub fn longest_fit(lo: usize, n: usize, fits: impl Fn(usize, usize) -> bool) -> usize {
    let (mut good, mut bad) = (0, n - lo + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if fits(lo, mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    good
}

/// Helpers every kernel file uses (`flat_group`, `at8`).
pub const COMMON: &str = include_str!("common.wgsl");

/// A tensor as a kernel sees it: a storage buffer of the plan and the element where the tensor starts in it
/// (views alias their producer's buffer at an offset). Every element is 32 bits on the GPU: f32 values, or
/// u32 ids for the workload's i64 inputs.
#[derive(Debug, Clone)]
pub struct TensorRef {
    pub buffer: usize,
    pub offset: u64,
    pub info: TensorInfo,
}

impl TensorRef {
    pub fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    pub fn numel(&self) -> u64 {
        self.info.numel()
    }

    /// The offset as a kernel parameter (the plan keeps every buffer under 2^32 elements).
    pub fn off(&self) -> u32 {
        u32::try_from(self.offset).expect("the plan keeps offsets below 2^32 elements")
    }
}

/// One compute dispatch, described.
#[derive(Debug)]
pub struct Dispatch {
    pub kernel: &'static Kernel,
    pub entry: &'static str,
    /// Values of the WGSL `override` constants this dispatch specializes (one pipeline per distinct set).
    pub constants: Vec<(&'static str, f64)>,
    /// The bytes of the kernel's uniform `Params` (binding 0).
    pub params: Vec<u8>,
    /// Storage buffers (plan buffer indices) for bindings 1, 2, …, in the order the WGSL declares them.
    pub buffers: Vec<usize>,
    /// Workgroups along x, y, z.
    pub groups: [u32; 3],
    /// Bindings that cover only part of their buffer: (index into `buffers`, byte offset, byte size). The
    /// offset counts from where the family's tensor offsets count from: the buffer's start, or the start of
    /// the window a piece of a split op binds (`exec::split` adds that start).
    pub windows: Vec<(usize, u64, u64)>,
}

impl Dispatch {
    /// `entry` of `kernel` with these uniform params (a `#[repr(C)]` mirror of the kernel's WGSL `Params`),
    /// storage buffers and workgroup counts.
    pub fn new<P: bytemuck::Pod>(kernel: &'static Kernel, entry: &'static str, params: &P, buffers: Vec<usize>, groups: [u32; 3]) -> Self {
        Dispatch { kernel, entry, constants: vec![], params: bytemuck::bytes_of(params).to_vec(), buffers, groups, windows: vec![] }
    }

    /// The same dispatch binding only `(offset, size)` bytes of its `binding`-th buffer.
    pub fn window(mut self, binding: usize, (offset, size): (u64, u64)) -> Self {
        self.windows.push((binding, offset, size));
        self
    }

    /// The same dispatch specialized by these `override` constants.
    pub fn with(mut self, constants: Vec<(&'static str, f64)>) -> Self {
        self.constants = constants;
        self
    }
}

/// Rows and columns of C one workgroup of the vec4 GEMM kernel computes (the tile of wave quantization).
pub fn gemm_tile(subgroups: bool, tiled: bool) -> [u32; 2] {
    matmul::GemmEntry::vec4_on(subgroups, tiled).tile()
}

/// What a family's function gets for one op.
pub struct OpArgs<'a> {
    pub node: &'a Node,
    pub inputs: &'a [TensorRef],
    /// Parameters in the layout of `params::param_specs`.
    pub params: &'a [TensorRef],
    pub output: &'a TensorRef,
    pub caps: DeviceCaps,
}

/// The dispatches of one op, or why it cannot run here.
pub fn dispatches(a: &OpArgs) -> Result<Vec<Dispatch>> {
    match &a.node.op {
        Op::Linear(l) => matmul::linear(a, l),
        Op::MatMul(m) => matmul::matmul(a, m),
        Op::Unary(u) => unary::unary(a, u.func),
        Op::Binary(b) => binary::binary(a, b.kind),
        Op::OuterProduct(o) => outer_product::outer_product(a, o),
        Op::Reduce(r) => reduce::reduce(a, r),
        Op::Softmax(s) => softmax::softmax(a, s),
        Op::Concat(c) => copy::concat(a, c),
        Op::Permute(p) => copy::permute(a, p),
        Op::Slice(s) => copy::slice(a, s),
        Op::Pool(p) => pool::pool(a, p),
        Op::AdaptiveAvgPool(p) => pool::adaptive_avg_pool(a, p),
        Op::Upsample(u) => upsample::upsample(a, u),
        Op::Embedding(e) => embedding::embedding(a, e),
        Op::BatchNorm(_) => norm::batch_norm(a),
        Op::LayerNorm(l) => norm::layer_norm(a, l),
        Op::InstanceNorm(i) => norm::instance_norm(a, i),
        Op::GruCell(_) | Op::LstmCell(_) => recurrent::cell(a),
        Op::Conv(c) => conv::conv(a, c),
        Op::Pad(p) => pad::pad(a, p),
        other => Err(Error::Unsupported(format!("op `{}` has no kernel yet", other.kind()))),
    }
}

/// `groups` workgroups spread over x, then y, then z so that no dimension exceeds `max`; kernels rebuild the
/// flat index with `flat_group` and return early past the end.
pub fn grid(groups: u64, max: u32) -> Result<[u32; 3]> {
    let max = u64::from(max);
    let x = groups.clamp(1, max);
    let rest = groups.div_ceil(x);
    let y = rest.clamp(1, max);
    let z = rest.div_ceil(y).max(1);
    if z > max {
        return Err(Error::Unsupported(format!("{groups} workgroups do not fit in one dispatch grid ({max}³)")));
    }
    Ok([x as u32, y as u32, z as u32])
}

/// Row-major element strides of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<u64> {
    let mut s = vec![1u64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1] as u64;
    }
    s
}

/// Strides of an operand of shape `src` read at the broadcast shape `out`: 0 along axes it repeats.
pub fn broadcast_strides(src: &[usize], out: &[usize]) -> Vec<u64> {
    let own = contiguous_strides(src);
    let lead = out.len() - src.len();
    (0..out.len()).map(|d| if d < lead || src[d - lead] == 1 { 0 } else { own[d - lead] }).collect()
}

/// Simplifies a strided iteration space: drops axes of size 1 and merges neighbouring axes that every
/// operand walks contiguously (`stride[d] == stride[d + 1] · shape[d + 1]`), so kernels do less index
/// arithmetic and high-rank tensors fit in the 8 axes a kernel takes.
pub fn collapse(shape: &[usize], strides: &[Vec<u64>]) -> (Vec<usize>, Vec<Vec<u64>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<u64>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let merge = !out_shape.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| *o.last().unwrap() == s[d] * shape[d] as u64);
        if merge {
            *out_shape.last_mut().unwrap() *= shape[d];
            for (o, s) in out_strides.iter_mut().zip(strides) {
                *o.last_mut().unwrap() = s[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (o, s) in out_strides.iter_mut().zip(strides) {
                o.push(s[d]);
            }
        }
    }
    (out_shape, out_strides)
}

/// Most axes a strided kernel takes (a `Dims8` in its params).
pub const MAX_RANK: usize = 8;

/// Up to [`MAX_RANK`] values as a kernel's `Dims8` (two `vec4<u32>`).
pub fn arr8<T: Copy + TryInto<u32>>(v: &[T], what: &str) -> Result<[u32; 8]> {
    if v.len() > MAX_RANK {
        return Err(Error::Unsupported(format!("{what} has {} axes after merging contiguous ones; kernels take at most {MAX_RANK}", v.len())));
    }
    let mut out = [0u32; 8];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = x.try_into().map_err(|_| Error::Unsupported(format!("{what} does not fit in 32-bit indices")))?;
    }
    Ok(out)
}

/// A count or offset as a u32 kernel parameter.
pub fn u32_of(v: impl TryInto<u32>, what: &str) -> Result<u32> {
    v.try_into().map_err(|_| Error::Unsupported(format!("{what} does not fit in 32-bit indices")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_spreads_past_the_dimension_limit() {
        assert_eq!(grid(10, 65535).unwrap(), [10, 1, 1]);
        assert_eq!(grid(70_000, 65535).unwrap(), [65535, 2, 1]);
        let g = grid(65535u64 * 65535 + 1, 65535).unwrap();
        assert!(u64::from(g[0]) * u64::from(g[1]) * u64::from(g[2]) > 65535u64 * 65535);
        assert_eq!(grid(0, 65535).unwrap(), [1, 1, 1]);
    }

    #[test]
    fn collapse_merges_contiguous_axes_and_keeps_broadcast_ones() {
        // A [2, 3, 4] tensor plus a [4] bias: the first two axes merge for both operands.
        let shape = [2, 3, 4];
        let (s, st) = collapse(&shape, &[contiguous_strides(&shape), broadcast_strides(&[4], &shape)]);
        assert_eq!(s, vec![6, 4]);
        assert_eq!(st, vec![vec![4, 1], vec![0, 1]]);
        // A plain copy is one axis.
        let (s, st) = collapse(&shape, &[contiguous_strides(&shape)]);
        assert_eq!((s, st), (vec![24], vec![vec![1]]));
        // A transpose does not merge.
        let (s, _) = collapse(&[3, 2], &[vec![1, 3], vec![2, 1]]);
        assert_eq!(s, vec![3, 2]);
    }
}
