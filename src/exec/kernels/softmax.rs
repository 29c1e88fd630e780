//! Softmax along one axis (`softmax.wgsl`).

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::Softmax;
use crate::graph::tensor::norm_axis;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "softmax", sources: &[include_str!("softmax.wgsl")] };

/// From this row length on, a workgroup per row beats an invocation per row.
use crate::exec::WORKGROUP_FOLD_FROM as GROUP_FROM;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    len: u32,
    inner: u32,
    x_off: u32,
    y_off: u32,
    _pad: [u32; 3],
}

pub fn softmax(a: &OpArgs, s: &Softmax) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let shape = x.shape();
    let axis = norm_axis(s.axis, shape.len()).map_err(Error::Unsupported)?;
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let rows = x.numel() / len as u64;
    let p = Params {
        rows: u32_of(rows, "the row count")?,
        len: len as u32,
        inner: u32_of(inner, "the inner size")?,
        x_off: x.off(),
        y_off: y.off(),
        _pad: [0; 3],
    };
    let (entry, groups) = if len >= GROUP_FROM { ("softmax_group", rows) } else { ("softmax_thread", rows.div_ceil(64)) };
    Ok(vec![Dispatch::new(&KERNEL, entry, &p, vec![x.buffer, y.buffer], grid(groups, a.caps.max_groups)?)])
}
