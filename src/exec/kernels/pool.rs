//! Pooling (`pool.wgsl`): max and average windows, and adaptive average pooling, over 1 to 3 spatial axes.
//! One dispatch per op, one invocation per output element.

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::{per_dim_pub, AdaptiveAvgPool, Pool, PoolKind};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "pool", sources: &[include_str!("pool.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    x_off: u32,
    y_off: u32,
    _p0: u32,
    in_size: [u32; 4],
    out_size: [u32; 4],
    kernel: [u32; 4],
    stride: [u32; 4],
    pad: [u32; 4],
}

/// Most spatial axes the kernels take.
const MAX_AXES: usize = 3;

/// One value per spatial axis as the kernel's three (d, h, w), missing leading axes given `fill`; the fourth
/// entry is `last`.
pub(super) fn axes3(v: &[usize], fill: usize, last: u64, what: &str) -> Result<[u32; 4]> {
    if v.len() > MAX_AXES {
        return Err(Error::Unsupported(format!("{what} has {} spatial axes; the kernel takes at most {MAX_AXES}", v.len())));
    }
    let mut out = [u32_of(fill, what)?, u32_of(fill, what)?, u32_of(fill, what)?, u32_of(last, what)?];
    for (o, &x) in out[MAX_AXES - v.len()..MAX_AXES].iter_mut().zip(v) {
        *o = u32_of(x, what)?;
    }
    Ok(out)
}

/// The params every pooling dispatch shares: sizes and offsets (window fields zero).
fn sizes(a: &OpArgs) -> Result<Params> {
    let (x, y) = (&a.inputs[0], a.output);
    let in_sp = &x.shape()[2..];
    let plane: u64 = in_sp.iter().map(|&d| d as u64).product();
    Ok(Params {
        n: u32_of(y.numel(), "the output count")?,
        x_off: x.off(),
        y_off: y.off(),
        _p0: 0,
        in_size: axes3(in_sp, 1, plane, "the input")?,
        out_size: axes3(&y.shape()[2..], 1, 0, "the output")?,
        kernel: [0; 4],
        stride: [0; 4],
        pad: [0; 4],
    })
}

fn dispatch(a: &OpArgs, entry: &'static str, p: &Params, kind: u32) -> Result<Vec<Dispatch>> {
    let groups = grid(a.output.numel().div_ceil(256), a.caps.max_groups)?;
    let d = Dispatch::new(&KERNEL, entry, p, vec![a.inputs[0].buffer, a.output.buffer], groups);
    Ok(vec![d.with(vec![("KIND", f64::from(kind))])])
}

/// `max_pool` / `avg_pool`.
pub fn pool(a: &OpArgs, pool: &Pool) -> Result<Vec<Dispatch>> {
    let per_dim = |v: &[usize], what| per_dim_pub(v, pool.dims, what).map_err(Error::Unsupported);
    let kernel = per_dim(&pool.kernel, "kernel")?;
    let stride = match &pool.stride {
        Some(s) => per_dim(s, "stride")?,
        None => kernel.clone(),
    };
    let pad = per_dim(&pool.padding, "padding")?;
    let p = Params {
        kernel: axes3(&kernel, 1, 0, "the kernel")?,
        stride: axes3(&stride, 1, 0, "the stride")?,
        pad: axes3(&pad, 0, 0, "the padding")?,
        ..sizes(a)?
    };
    let kind = match pool.kind {
        PoolKind::Max => 0,
        PoolKind::Avg => 1,
    };
    dispatch(a, "pool", &p, kind)
}

/// `adaptive_avg_pool` (the kernel sums, KIND 1, and divides by the window size).
pub fn adaptive_avg_pool(a: &OpArgs, _: &AdaptiveAvgPool) -> Result<Vec<Dispatch>> {
    dispatch(a, "adaptive_avg", &sizes(a)?, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spatial_axes_fill_from_the_front() {
        assert_eq!(axes3(&[5, 7], 1, 35, "x").unwrap(), [1, 5, 7, 35]);
        assert_eq!(axes3(&[2], 0, 0, "x").unwrap(), [0, 0, 2, 0]);
        assert!(axes3(&[1, 2, 3, 4], 1, 0, "x").is_err());
    }
}
