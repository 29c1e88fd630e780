//! `pad` (`pad.wgsl`): zero, reflect or replicate padding of the spatial axes, one element per invocation.

use super::{arr8, grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::{per_dim_pub, Pad, PadMode};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "pad", sources: &[include_str!("pad.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    rank: u32,
    x_off: u32,
    y_off: u32,
    mode: u32,
    _p: [u32; 3],
    out_shape: [u32; 8],
    in_shape: [u32; 8],
    pad: [u32; 8],
}

pub fn pad(a: &OpArgs, pd: &Pad) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let spatial = x.shape().len() - 2;
    let padding = per_dim_pub(&pd.padding, spatial, "padding").map_err(Error::Unsupported)?;
    // Batch and channels as one unpadded axis in front of the spatial ones.
    let lead = |s: &[usize]| [vec![s[0] * s[1]], s[2..].to_vec()].concat();
    let pads = [vec![0], padding].concat();
    let n = y.numel();
    let p = Params {
        n: u32_of(n, "the element count")?,
        rank: pads.len() as u32,
        x_off: x.off(),
        y_off: y.off(),
        mode: match pd.mode {
            PadMode::Zeros => 0,
            PadMode::Reflect => 1,
            PadMode::Replicate => 2,
        },
        _p: [0; 3],
        out_shape: arr8(&lead(y.shape()), "the padded shape")?,
        in_shape: arr8(&lead(x.shape()), "the padded shape")?,
        pad: arr8(&pads, "the padded shape")?,
    };
    Ok(vec![Dispatch::new(&KERNEL, "main", &p, vec![x.buffer, y.buffer], grid(n.div_ceil(256), a.caps.max_groups)?)])
}
