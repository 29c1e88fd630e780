//! BatchNorm, LayerNorm and InstanceNorm at inference (`norm.wgsl`): one dispatch each, as the cost model
//! counts them. BatchNorm is elementwise from the running statistics; LayerNorm and InstanceNorm normalize
//! contiguous rows by their own statistics (a workgroup of 256 per row from [`GROUP_FROM`] elements on, an
//! invocation per row below).

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::exec::reference::norm::EPS;
use crate::graph::ops::{InstanceNorm, LayerNorm};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "norm", sources: &[include_str!("norm.wgsl")] };

/// From this row length on, a workgroup per row beats an invocation per row.
use crate::exec::WORKGROUP_FOLD_FROM as GROUP_FROM;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    /// Rows (`norm_*`), or elements (`batch_norm`).
    rows: u32,
    /// Elements per row (`norm_*`), or per sample and channel (`batch_norm`).
    len: u32,
    channels: u32,
    /// 0 none, 1 per element of a row, 2 per channel (`row % channels`).
    affine: u32,
    x_off: u32,
    y_off: u32,
    w_off: u32,
    b_off: u32,
    m_off: u32,
    v_off: u32,
    eps: f32,
    _pad: u32,
}

/// `y = (x - running_mean[c]) / sqrt(running_var[c] + eps) · weight[c] + bias[c]` over axis 1.
pub fn batch_norm(a: &OpArgs) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let [w, b, m, v] = [&a.params[0], &a.params[1], &a.params[2], &a.params[3]];
    let n = x.numel();
    let channels = x.shape()[1];
    let p = Params {
        rows: u32_of(n, "the element count")?,
        len: u32_of(x.shape()[2..].iter().product::<usize>(), "the spatial size")?,
        channels: u32_of(channels, "the channel count")?,
        affine: 2,
        x_off: x.off(),
        y_off: y.off(),
        w_off: w.off(),
        b_off: b.off(),
        m_off: m.off(),
        v_off: v.off(),
        eps: EPS,
        _pad: 0,
    };
    let buffers = vec![x.buffer, w.buffer, b.buffer, y.buffer, m.buffer, v.buffer];
    Ok(vec![Dispatch::new(&KERNEL, "batch_norm", &p, buffers, grid(n.div_ceil(256), a.caps.max_groups)?)])
}

/// Each row of the last `dims` axes by its own statistics, scaled and shifted per element.
pub fn layer_norm(a: &OpArgs, l: &LayerNorm) -> Result<Vec<Dispatch>> {
    let shape = a.inputs[0].shape();
    let len: usize = shape[shape.len() - l.dims..].iter().product();
    rows(a, len, 1, if l.affine { 1 } else { 0 })
}

/// Each sample and channel over the spatial axes, scaled and shifted per channel.
pub fn instance_norm(a: &OpArgs, i: &InstanceNorm) -> Result<Vec<Dispatch>> {
    let shape = a.inputs[0].shape();
    rows(a, shape[2..].iter().product(), shape[1], if i.affine { 2 } else { 0 })
}

fn rows(a: &OpArgs, len: usize, channels: usize, affine: u32) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let rows = x.numel() / len.max(1) as u64;
    // Without affine parameters the input stands in for them (bound, never read).
    let (w, b) = if affine == 0 { (x, x) } else { (&a.params[0], &a.params[1]) };
    let p = Params {
        rows: u32_of(rows, "the row count")?,
        len: u32_of(len, "the row length")?,
        channels: u32_of(channels, "the channel count")?,
        affine,
        x_off: x.off(),
        y_off: y.off(),
        w_off: w.off(),
        b_off: b.off(),
        m_off: 0,
        v_off: 0,
        eps: EPS,
        _pad: 0,
    };
    let (entry, groups) = if len >= GROUP_FROM { ("norm_group", rows) } else { ("norm_thread", rows.div_ceil(64)) };
    Ok(vec![Dispatch::new(&KERNEL, entry, &p, vec![x.buffer, w.buffer, b.buffer, y.buffer], grid(groups, a.caps.max_groups)?)])
}
