//! Data movement copies (`copy.wgsl`): permute, slice (when it is not a view) and concat all become strided
//! copies of 32-bit words. Permutes and slices that are views never reach here: the plan aliases them.

use super::{arr8, collapse, contiguous_strides, grid, u32_of, Dispatch, Kernel, OpArgs, TensorRef};
use crate::error::{Error, Result};
use crate::graph::ops::{Concat, Permute, Slice};
use crate::graph::tensor::norm_axis;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "copy", sources: &[include_str!("copy.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    rank: u32,
    src_off: u32,
    dst_off: u32,
    shape: [u32; 8],
    src_stride: [u32; 8],
    dst_stride: [u32; 8],
}

/// One side of a copy: a buffer, the element where the copy starts, and its strides over the copy shape.
struct Side<'a> {
    t: &'a TensorRef,
    offset: u64,
    strides: Vec<u64>,
}

fn copy(a: &OpArgs, shape: &[usize], src: Side, dst: Side) -> Result<Dispatch> {
    let (shape, strides) = collapse(shape, &[src.strides, dst.strides]);
    let n: u64 = shape.iter().map(|&d| d as u64).product();
    let p = Params {
        n: u32_of(n, "the element count")?,
        rank: shape.len() as u32,
        src_off: u32_of(src.offset, "an offset")?,
        dst_off: u32_of(dst.offset, "an offset")?,
        shape: arr8(&shape, "the copied shape")?,
        src_stride: arr8(&strides[0], "the copied shape")?,
        dst_stride: arr8(&strides[1], "the copied shape")?,
    };
    Ok(Dispatch::new(&KERNEL, "main", &p, vec![src.t.buffer, dst.t.buffer], grid(n.div_ceil(256), a.caps.max_groups)?))
}

/// The output, written contiguously.
fn whole(t: &TensorRef) -> Side<'_> {
    Side { t, offset: t.offset, strides: contiguous_strides(t.shape()) }
}

/// One copy per input, each into its block of the output.
pub fn concat(a: &OpArgs, c: &Concat) -> Result<Vec<Dispatch>> {
    let out = a.output;
    let axis = norm_axis(c.axis, out.shape().len()).map_err(Error::Unsupported)?;
    let out_strides = contiguous_strides(out.shape());
    let mut at = 0u64;
    let mut v = Vec::with_capacity(a.inputs.len());
    for x in a.inputs {
        let dst = Side { t: out, offset: out.offset + at * out_strides[axis], strides: out_strides.clone() };
        v.push(copy(a, x.shape(), whole(x), dst)?);
        at += x.shape()[axis] as u64;
    }
    Ok(v)
}

/// Output axis d reads input axis `perm[d]`.
pub fn permute(a: &OpArgs, p: &Permute) -> Result<Vec<Dispatch>> {
    let x = &a.inputs[0];
    let own = contiguous_strides(x.shape());
    let src = Side { t: x, offset: x.offset, strides: p.perm.iter().map(|&d| own[d]).collect() };
    Ok(vec![copy(a, a.output.shape(), src, whole(a.output))?])
}

/// The output reads the input from `start` along the axis, with the input's strides.
pub fn slice(a: &OpArgs, s: &Slice) -> Result<Vec<Dispatch>> {
    let x = &a.inputs[0];
    let (axis, start, _) = s.resolve(x.shape()).map_err(Error::Unsupported)?;
    let own = contiguous_strides(x.shape());
    let src = Side { t: x, offset: x.offset + start as u64 * own[axis], strides: own };
    Ok(vec![copy(a, a.output.shape(), src, whole(a.output))?])
}
