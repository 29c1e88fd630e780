//! `linear` and `matmul` on the register-blocked GEMM of `matmul.wgsl`: when k, n and every offset are
//! multiples of 4, vec4 loads (sharing rows of A across a subgroup when the device has subgroups); the scalar
//! entry point otherwise. On a real GPU (`DeviceCaps::tiled_gemm`) the vec4 case runs the workgroup-memory
//! GEMM of `matmul_tiled.wgsl` instead: the register-blocked kernels are written for CPU adapters. A grid larger than one dispatch allows is cut into several dispatches that start at
//! a row, column or batch offset.

use super::{arr8, broadcast_strides, collapse, u32_of, Dispatch, Kernel, OpArgs, TensorRef};
use crate::error::Result;
use crate::graph::ops::{Linear, MatMul};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "matmul", sources: &[include_str!("matmul.wgsl")] };
/// The subgroup entry point needs the device feature, so it is its own module (after `matmul.wgsl`).
pub const SUBGROUP_KERNEL: Kernel = Kernel { name: "matmul_subgroup", sources: &[include_str!("matmul.wgsl"), include_str!("matmul_subgroup.wgsl")] };

/// The workgroup-memory entry point for real GPUs (after `matmul.wgsl`; VEC4 only).
pub const TILED_KERNEL: Kernel = Kernel { name: "matmul_tiled", sources: &[include_str!("matmul.wgsl"), include_str!("matmul_tiled.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_rank: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    bias_off: u32,
    row0: u32,
    col0: u32,
    batch0: u32,
    has_bias: u32,
    scale: f32,
    lda: u32,
    accumulate: u32,
    _pad: u32,
    batch_shape: [u32; 8],
    a_bstride: [u32; 8],
    b_bstride: [u32; 8],
}

/// The GEMM entry points, by the device's kind and what the operands allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmEntry {
    /// `mm`: register-blocked, element or vec4 loads (CPU adapters; any GPU when k or n is not a multiple of 4).
    Blocked,
    /// `mm_subgroup`: register-blocked, rows of A shared across a subgroup (CPU adapters with subgroups).
    Subgroup,
    /// `mm_tiled`: workgroup-memory tiles (real GPUs).
    Tiled,
}

impl GemmEntry {
    /// The entry point the vec4 GEMM takes on a device.
    pub fn vec4_on(caps_subgroups: bool, tiled: bool) -> GemmEntry {
        if tiled {
            GemmEntry::Tiled
        } else if caps_subgroups {
            GemmEntry::Subgroup
        } else {
            GemmEntry::Blocked
        }
    }

    /// Rows and columns of C per workgroup.
    pub fn tile(self) -> [u32; 2] {
        match self {
            GemmEntry::Blocked => [64, 64],
            GemmEntry::Subgroup => [32, 64],
            GemmEntry::Tiled => [128, 128],
        }
    }

    fn kernel(self) -> (&'static Kernel, &'static str) {
        match self {
            GemmEntry::Blocked => (&KERNEL, "mm"),
            GemmEntry::Subgroup => (&SUBGROUP_KERNEL, "mm_subgroup"),
            GemmEntry::Tiled => (&TILED_KERNEL, "mm_tiled"),
        }
    }
}

/// One GEMM problem: `scale · A · B (+ bias)` over a (collapsed) batch.
struct Gemm<'a> {
    a: &'a TensorRef,
    b: &'a TensorRef,
    bias: Option<&'a TensorRef>,
    m: usize,
    n: usize,
    k: usize,
    transpose_b: bool,
    scale: f32,
    batch: Vec<usize>,
    a_bstride: Vec<u64>,
    b_bstride: Vec<u64>,
    /// One slice of a longer reduction: A's row stride, the slice's first column of A, the byte window of B
    /// bound for it, and whether it adds onto C.
    slice: Option<KSlice>,
}

#[derive(Clone, Copy)]
struct KSlice {
    lda: usize,
    k0: usize,
    b_window: (u64, u64),
    accumulate: bool,
}

/// `x [..., in] · weight [in, out] + bias`: the leading axes of x are the rows of one GEMM.
pub fn linear(a: &OpArgs, l: &Linear) -> Result<Vec<Dispatch>> {
    let x = &a.inputs[0];
    let k = *x.shape().last().expect("linear input has rank >= 1");
    let rows = (x.numel() / k as u64) as usize;
    dense_into(a, x, &a.params[0], if l.bias { a.params.get(1) } else { None }, [rows, l.out, k], a.output)
}

/// `x [m, k] · w [k, n] (+ bias [n])` written to `out`, which may be another tensor than the op's output:
/// a GEMM as one step of another family's op (the hidden projection of a recurrent cell).
///
/// A weight larger than one storage binding (VGG16's first classifier layer holds 411 MB; lavapipe binds 128
/// MiB) is split along k: each dispatch binds a window of the weight's rows and adds its partial product
/// onto C, the first one with the bias.
pub fn dense_into(a: &OpArgs, x: &TensorRef, w: &TensorRef, bias: Option<&TensorRef>, [m, n, k]: [usize; 3], out: &TensorRef) -> Result<Vec<Dispatch>> {
    let args = OpArgs { output: out, ..*a };
    let plain = |k, slice| Gemm { a: x, b: w, bias, m, n, k, transpose_b: false, scale: 1.0, batch: vec![], a_bstride: vec![], b_bstride: vec![], slice };
    let row_bytes = n as u64 * 4;
    if k as u64 * row_bytes <= a.caps.max_binding_bytes {
        return gemm(&args, plain(k, None));
    }
    // Rows per slice: a multiple of 64, so that every window starts at a multiple of 256 bytes (the
    // binding offset alignment) and A's slices stay vec4-aligned.
    let rows = (a.caps.max_binding_bytes / row_bytes) / 64 * 64;
    if rows == 0 || w.offset != 0 {
        return Err(crate::error::Error::Unsupported(format!(
            "a weight row of {row_bytes} bytes leaves no aligned slice within the adapter's {}-byte binding limit",
            a.caps.max_binding_bytes
        )));
    }
    let mut dispatches = Vec::new();
    for k0 in (0..k).step_by(rows as usize) {
        let kc = (k - k0).min(rows as usize);
        let slice = KSlice { lda: k, k0, b_window: (k0 as u64 * row_bytes, kc as u64 * row_bytes), accumulate: k0 > 0 };
        let g = Gemm { bias: if k0 == 0 { bias } else { None }, ..plain(kc, Some(slice)) };
        dispatches.extend(gemm(&args, g)?);
    }
    Ok(dispatches)
}

/// Batched `a · b` (or `a · bᵀ`) with broadcast batch axes.
pub fn matmul(a: &OpArgs, mm: &MatMul) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], &a.inputs[1]);
    let (batch, m, k, n) = mm.dims(x.shape(), y.shape()).map_err(crate::error::Error::Unsupported)?;
    let (ra, rb) = (x.shape().len(), y.shape().len());
    // Batch strides in elements: one batch step of A is a whole [m, k] matrix.
    let scaled = |s: Vec<u64>, by: u64| s.into_iter().map(|v| v * by).collect::<Vec<_>>();
    let sa = scaled(broadcast_strides(&x.shape()[..ra - 2], &batch), (m * k) as u64);
    let sb = scaled(broadcast_strides(&y.shape()[..rb - 2], &batch), (k * n) as u64);
    let (batch, strides) = collapse(&batch, &[sa, sb]);
    let [a_bstride, b_bstride]: [Vec<u64>; 2] = strides.try_into().expect("two operands");
    gemm(a, Gemm { a: x, b: y, bias: None, m, n, k, transpose_b: mm.transpose_b, scale: mm.scale, batch, a_bstride, b_bstride, slice: None })
}

fn gemm(args: &OpArgs, g: Gemm) -> Result<Vec<Dispatch>> {
    let out = args.output;
    let aligned = |t: &TensorRef| t.offset.is_multiple_of(4);
    let vec4 = g.k.is_multiple_of(4) && g.n.is_multiple_of(4) && aligned(g.a) && aligned(g.b) && aligned(out) && g.bias.is_none_or(aligned);
    let path = if vec4 { GemmEntry::vec4_on(args.caps.subgroups, args.caps.tiled_gemm) } else { GemmEntry::Blocked };
    let (kernel, entry) = path.kernel();
    let [tile_m, tile_n] = path.tile().map(u64::from);
    let flag = |b: bool| f64::from(u8::from(b));
    let constants = vec![("TRANSPOSE_B", flag(g.transpose_b)), ("VEC4", flag(vec4))];
    let template = Params {
        m: u32_of(g.m, "rows")?,
        n: u32_of(g.n, "columns")?,
        k: u32_of(g.k, "inner dimension")?,
        batch_rank: g.batch.len() as u32,
        a_off: g.a.off() + g.slice.map_or(0, |s| s.k0 as u32),
        b_off: if g.slice.is_some() { 0 } else { g.b.off() },
        c_off: out.off(),
        bias_off: g.bias.map_or(0, TensorRef::off),
        row0: 0,
        col0: 0,
        batch0: 0,
        has_bias: u32::from(g.bias.is_some()),
        scale: g.scale,
        lda: u32_of(g.slice.map_or(g.k, |s| s.lda), "the inner dimension")?,
        accumulate: u32::from(g.slice.is_some_and(|s| s.accumulate)),
        _pad: 0,
        batch_shape: arr8(&g.batch, "the batch")?,
        a_bstride: arr8(&g.a_bstride, "the batch")?,
        b_bstride: arr8(&g.b_bstride, "the batch")?,
    };
    // A dummy for the bias binding when there is none: A's buffer, bound read-only like the bias.
    let buffers = vec![g.a.buffer, g.b.buffer, g.bias.unwrap_or(g.a).buffer, out.buffer];
    let counts = [(g.n as u64).div_ceil(tile_n), (g.m as u64).div_ceil(tile_m), g.batch.iter().product::<usize>() as u64];
    let max = u64::from(args.caps.max_groups);
    let mut dispatches = Vec::new();
    // Usually one dispatch; a dimension past the limit is cut into chunks that start further on.
    for z0 in (0..counts[2]).step_by(max as usize) {
        for y0 in (0..counts[1]).step_by(max as usize) {
            for x0 in (0..counts[0]).step_by(max as usize) {
                let p = Params { row0: u32_of(y0 * tile_m, "rows")?, col0: u32_of(x0 * tile_n, "columns")?, batch0: z0 as u32, ..template };
                let groups = [(counts[0] - x0).min(max) as u32, (counts[1] - y0).min(max) as u32, (counts[2] - z0).min(max) as u32];
                let mut d = Dispatch::new(kernel, entry, &p, buffers.clone(), groups).with(constants.clone());
                if let Some(s) = g.slice {
                    d = d.window(1, s.b_window);
                }
                dispatches.push(d);
            }
        }
    }
    Ok(dispatches)
}
