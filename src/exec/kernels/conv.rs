//! Convolutions (`conv.wgsl`): every convolution, forward or transposed, 1-D to 3-D, grouped or not, is one
//! dispatch of the implicit-GEMM kernel. Its workgroups (tiles of 64 output pixels × 4·NG output channels
//! of one group and, for a transposed convolution, one class of output positions) are numbered flat and
//! spread over the grid by [`grid`], so any size fits one dispatch, as the cost model's one kernel assumes.

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::{per_dim_pub, Conv};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "conv", sources: &[include_str!("conv.wgsl"), include_str!("conv_plain.wgsl")] };
/// The subgroup entry point needs the device feature, so it is its own module.
pub const SUBGROUP_KERNEL: Kernel = Kernel { name: "conv_subgroup", sources: &[include_str!("conv.wgsl"), include_str!("conv_subgroup.wgsl")] };

/// Output pixels per workgroup: 8 invocations × 8 pixels.
const TILE_ROWS: u64 = 64;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    row_tiles: u32,
    col_tiles: u32,
    tiles: u32,
    groups: u32,
    cog: u32,
    cig: u32,
    has_bias: u32,
    rdim: [u32; 4],
    odim: [u32; 4],
    idim: [u32; 4],
    kdim: [u32; 4],
    stride: [u32; 4],
    pad: [u32; 4],
    dil: [u32; 4],
    offs: [u32; 4],
    in_bstride: u32,
    out_bstride: u32,
    w_kstride: u32,
    w_cstride: u32,
    w_gstride: u32,
    _p: [u32; 3],
}

/// Per-axis values as (z, y, x), `fill` in front of the missing ones.
fn zyx(v: &[usize], fill: usize) -> [u64; 3] {
    let mut out = [fill as u64; 3];
    for (o, &x) in out[3 - v.len()..].iter_mut().zip(v) {
        *o = x as u64;
    }
    out
}

/// Three values and a fourth as a kernel's `vec4<u32>`.
fn vec4(v: [u64; 3], w: u64, what: &str) -> Result<[u32; 4]> {
    Ok([u32_of(v[0], what)?, u32_of(v[1], what)?, u32_of(v[2], what)?, u32_of(w, what)?])
}

/// How many groups of 4 output channels one invocation accumulates: enough for the group's channels, at
/// most 8 (32 channels, 256 accumulators).
fn column_groups(cog: u64) -> u64 {
    cog.div_ceil(4).next_power_of_two().min(8)
}

pub fn conv(a: &OpArgs, c: &Conv) -> Result<Vec<Dispatch>> {
    let (x, out, w) = (&a.inputs[0], a.output, &a.params[0]);
    let bias = if c.bias { a.params.get(1) } else { None };
    let per_dim = |v: &[usize], what: &str| per_dim_pub(v, c.dims, what).map_err(Error::Unsupported);
    let k = zyx(&per_dim(&c.kernel, "kernel")?, 1);
    let s = zyx(&per_dim(&c.stride, "stride")?, 1);
    let pad = zyx(&per_dim(&c.padding, "padding")?, 0);
    let dil = zyx(&per_dim(&c.dilation, "dilation")?, 1);
    let (nb, cin) = (x.shape()[0] as u64, x.shape()[1] as u64);
    let isz = zyx(&x.shape()[2..], 1);
    let osz = zyx(&out.shape()[2..], 1);
    let groups = c.groups as u64;
    let (cig, cog) = (cin / groups, c.out as u64 / groups);
    let (in_sp, out_sp) = (isz.iter().product::<u64>(), osz.iter().product::<u64>());
    // A transposed convolution computes output positions c + s·r in s classes per axis (see the shader).
    let (rdim, classes) = if c.transposed { (std::array::from_fn(|i| osz[i].div_ceil(s[i])), s) } else { (osz, [1; 3]) };
    let rows = nb * rdim.iter().product::<u64>();
    let ng = column_groups(cog);
    let col_tiles = cog.div_ceil(4 * ng);
    let row_tiles = rows.div_ceil(TILE_ROWS);
    let tiles = col_tiles * row_tiles * groups * classes.iter().product::<u64>();
    let kvol = k.iter().product::<u64>();
    // Weight strides per tap, per row (input channel) and per group, in the layouts of `params.rs`.
    let (w_kstride, w_cstride, w_gstride) = if c.transposed { (cin * cog, cog, cig * cog) } else { (cig * c.out as u64, c.out as u64, cog) };
    let vec4_ok = [cog, w_kstride, w_cstride, w_gstride, w.offset].iter().all(|v| v.is_multiple_of(4));
    debug_assert_eq!(w.numel(), kvol * if c.transposed { cin * cog } else { cig * c.out as u64 });
    let p = Params {
        rows: u32_of(rows, "output pixels")?,
        row_tiles: row_tiles as u32,
        col_tiles: col_tiles as u32,
        tiles: u32_of(tiles, "convolution tiles")?,
        groups: u32_of(groups, "groups")?,
        cog: u32_of(cog, "output channels")?,
        cig: u32_of(cig, "input channels")?,
        has_bias: u32::from(bias.is_some()),
        rdim: vec4(rdim, classes[2], "the output")?,
        odim: vec4(osz, out_sp, "the output")?,
        idim: vec4(isz, in_sp, "the input")?,
        kdim: vec4(k, u64::from(c.transposed), "the kernel")?,
        stride: vec4(s, classes[1], "the stride")?,
        pad: vec4(pad, 0, "the padding")?,
        dil: vec4(dil, 0, "the dilation")?,
        offs: [x.off(), w.off(), bias.map_or(0, |b| b.off()), out.off()],
        in_bstride: u32_of(cin * in_sp, "the input")?,
        out_bstride: u32_of(c.out as u64 * out_sp, "the output")?,
        w_kstride: u32_of(w_kstride, "the weight")?,
        w_cstride: u32_of(w_cstride, "the weight")?,
        w_gstride: u32_of(w_gstride, "the weight")?,
        _p: [0; 3],
    };
    // A dummy for the bias binding when there is none: the weight's buffer, bound read-only like the bias.
    let buffers = vec![x.buffer, w.buffer, bias.unwrap_or(w).buffer, out.buffer];
    let kernel = if a.caps.subgroups { &SUBGROUP_KERNEL } else { &KERNEL };
    let d = Dispatch::new(kernel, "conv", &p, buffers, grid(tiles, a.caps.max_groups)?);
    Ok(vec![d.with(vec![("NG", ng as f64), ("VEC4", f64::from(u8::from(vec4_ok)))])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_groups_cover_the_group_up_to_32_channels() {
        assert_eq!(column_groups(1), 1);
        assert_eq!(column_groups(4), 1);
        assert_eq!(column_groups(7), 2);
        assert_eq!(column_groups(24), 8);
        assert_eq!(column_groups(512), 8);
    }

    #[test]
    fn axes_fill_in_front() {
        assert_eq!(zyx(&[5], 1), [1, 1, 5]);
        assert_eq!(zyx(&[2, 3], 0), [0, 2, 3]);
    }
}
