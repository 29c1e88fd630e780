//! Mean, sum and max over axes (`reduce.wgsl`).

use super::{arr8, collapse, contiguous_strides, grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::{Reduce, ReduceKind};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "reduce", sources: &[include_str!("reduce.wgsl")] };

/// From this row length on, a workgroup per row beats an invocation per row.
use crate::exec::WORKGROUP_FOLD_FROM as GROUP_FROM;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_out: u32,
    keep_rank: u32,
    red_rank: u32,
    count: u32,
    x_off: u32,
    y_off: u32,
    _pad: [u32; 2],
    keep_shape: [u32; 8],
    keep_stride: [u32; 8],
    red_shape: [u32; 8],
    red_stride: [u32; 8],
}

pub fn reduce(a: &OpArgs, r: &Reduce) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let shape = x.shape();
    let axes = r.resolved_axes(shape.len()).map_err(Error::Unsupported)?;
    let strides = contiguous_strides(shape);
    // Kept axes index outputs (in order, so outputs are row-major); reduced axes are folded.
    let pick = |keep: bool| -> (Vec<usize>, Vec<u64>) {
        (0..shape.len()).filter(|d| axes.contains(d) != keep).map(|d| (shape[d], strides[d])).unzip()
    };
    let (ks, kst) = pick(true);
    let (rs, rst) = pick(false);
    let (ks, kst) = collapse(&ks, &[kst]);
    let (rs, rst) = collapse(&rs, &[rst]);
    let count: usize = rs.iter().product();
    let n_out = y.numel();
    let p = Params {
        n_out: u32_of(n_out, "the output count")?,
        keep_rank: ks.len() as u32,
        red_rank: rs.len() as u32,
        count: u32_of(count, "the reduced count")?,
        x_off: x.off(),
        y_off: y.off(),
        _pad: [0; 2],
        keep_shape: arr8(&ks, "the kept axes")?,
        keep_stride: arr8(&kst[0], "the kept axes")?,
        red_shape: arr8(&rs, "the reduced axes")?,
        red_stride: arr8(&rst[0], "the reduced axes")?,
    };
    let kind = match r.kind {
        ReduceKind::Mean => 0,
        ReduceKind::Sum => 1,
        ReduceKind::Max => 2,
    };
    let (entry, groups) = if count >= GROUP_FROM { ("reduce_group", n_out) } else { ("reduce_thread", n_out.div_ceil(64)) };
    Ok(vec![Dispatch::new(&KERNEL, entry, &p, vec![x.buffer, y.buffer], grid(groups, a.caps.max_groups)?).with(vec![("KIND", f64::from(kind))])])
}
