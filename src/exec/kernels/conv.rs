//! Convolutions (`conv.wgsl`): every convolution, forward or transposed, 1-D to 3-D, grouped or not, is one
//! dispatch of the implicit-GEMM kernel. Its workgroups (tiles of 64 output pixels × 4·NG output channels
//! of one group and, for a transposed convolution, one class of output positions) are numbered flat and
//! spread over the grid by [`grid`], so any size fits one dispatch, as the cost model's one kernel assumes.
//!
//! Only an input or output larger than one storage binding takes several: batch items, groups and channel
//! runs that each bind a window of both (see [`shares`]); runs of input channels add their partial sums up,
//! as the GEMM's split along k does. Splits along the batch of a larger op arrive from `exec::split`.

use super::{grid, longest_fit, u32_of, DeviceCaps, Dispatch, Kernel, OpArgs};
use crate::error::{Error, Result};
use crate::graph::ops::{per_dim_pub, Conv};
use bytemuck::{Pod, Zeroable};
use std::ops::Range;

pub const KERNEL: Kernel = Kernel { name: "conv", sources: &[include_str!("conv.wgsl"), include_str!("conv_plain.wgsl")] };
/// The subgroup entry point needs the device feature, so it is its own module.
pub const SUBGROUP_KERNEL: Kernel = Kernel { name: "conv_subgroup", sources: &[include_str!("conv.wgsl"), include_str!("conv_subgroup.wgsl")] };
/// The workgroup-memory entry point for real GPUs (`DeviceCaps::tiled_gemm`): the same tiles, 128 invocations
/// each instead of 8. `conv.wgsl`'s register-blocked body needs a `weights` loader in scope: the plain one's
/// module comes along, unused.
pub const TILED_KERNEL: Kernel =
    Kernel { name: "conv_tiled", sources: &[include_str!("conv.wgsl"), include_str!("conv_plain.wgsl"), include_str!("conv_tiled.wgsl")] };

/// Output pixels per workgroup: 8 invocations × 8 pixels (on a real GPU, 128 invocations × 4 pixels × 4
/// channels).
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
    /// 1 when the dispatch adds onto the output (a later run of input channels).
    accumulate: u32,
    _p: [u32; 2],
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

/// What every dispatch of one convolution shares: its geometry, in the kernel's (z, y, x) order.
struct Geometry {
    k: [u64; 3],
    s: [u64; 3],
    pad: [u64; 3],
    dil: [u64; 3],
    isz: [u64; 3],
    osz: [u64; 3],
    /// Batch items, groups, and input and output channels per group.
    nb: u64,
    groups: u64,
    cig: u64,
    cog: u64,
    /// Positions of one input and one output channel.
    in_sp: u64,
    out_sp: u64,
    /// The row space of one class and the classes per axis (see `conv.wgsl`).
    rdim: [u64; 3],
    classes: [u64; 3],
    transposed: bool,
    /// Weight strides per tap, per row (input channel) and per group, in the layouts of `params.rs`.
    w_kstride: u64,
    w_cstride: u64,
    w_gstride: u64,
}

impl Geometry {
    fn of(a: &OpArgs, c: &Conv) -> Result<Geometry> {
        let (x, out) = (&a.inputs[0], a.output);
        let per_dim = |v: &[usize], what: &str| per_dim_pub(v, c.dims, what).map_err(Error::Unsupported);
        let s = zyx(&per_dim(&c.stride, "stride")?, 1);
        let (isz, osz) = (zyx(&x.shape()[2..], 1), zyx(&out.shape()[2..], 1));
        let (cin, groups) = (x.shape()[1] as u64, c.groups as u64);
        let (cig, cog) = (cin / groups, c.out as u64 / groups);
        // A transposed convolution computes output positions c + s·r in s classes per axis (see the shader).
        let (rdim, classes) = if c.transposed { (std::array::from_fn(|i| osz[i].div_ceil(s[i])), s) } else { (osz, [1; 3]) };
        let (w_kstride, w_cstride, w_gstride) = if c.transposed { (cin * cog, cog, cig * cog) } else { (cig * c.out as u64, c.out as u64, cog) };
        Ok(Geometry {
            k: zyx(&per_dim(&c.kernel, "kernel")?, 1),
            s,
            pad: zyx(&per_dim(&c.padding, "padding")?, 0),
            dil: zyx(&per_dim(&c.dilation, "dilation")?, 1),
            isz,
            osz,
            nb: x.shape()[0] as u64,
            groups,
            cig,
            cog,
            in_sp: isz.iter().product(),
            out_sp: osz.iter().product(),
            rdim,
            classes,
            transposed: c.transposed,
            w_kstride,
            w_cstride,
            w_gstride,
        })
    }

    /// Where input channel `ci` of group `g` of batch item `b` starts, relative to the input's start.
    fn input_at(&self, b: u64, g: u64, ci: u64) -> u64 {
        (b * self.groups * self.cig + g * self.cig + ci) * self.in_sp
    }

    /// Where output channel `co` of group `g` of batch item `b` starts, relative to the output's start.
    fn output_at(&self, b: u64, g: u64, co: u64) -> u64 {
        (b * self.groups * self.cog + g * self.cog + co) * self.out_sp
    }
}

/// The part of a convolution one dispatch computes: batch items, groups, and (within one group) input and
/// output channels. A share with part of the input channels adds its partial sums onto what the shares
/// before it wrote; the first one adds the bias.
#[derive(Debug)]
struct Share {
    batch: Range<u64>,
    groups: Range<u64>,
    ci: Range<u64>,
    co: Range<u64>,
}

pub fn conv(a: &OpArgs, c: &Conv) -> Result<Vec<Dispatch>> {
    let geo = Geometry::of(a, c)?;
    let (x, out) = (&a.inputs[0], a.output);
    let whole = Share { batch: 0..geo.nb, groups: 0..geo.groups, ci: 0..geo.cig, co: 0..geo.cog };
    if a.caps.fits(x.offset, x.numel()) && a.caps.fits(out.offset, out.numel()) {
        return Ok(vec![dispatch(a, c, &geo, &whole, false)?]);
    }
    shares(&geo, x.offset, out.offset, a.caps)?.iter().map(|s| dispatch(a, c, &geo, s, true)).collect()
}

/// How a convolution whose input or output is larger than one binding is cut so that every dispatch binds
/// windows that fit: batch items one at a time; then as many whole groups as fit; and when one group does
/// not, its output channels and input channels in runs that fit, the input channel runs accumulating (as
/// the GEMM's split along k does). Fails when one channel of one batch item alone is too large.
fn shares(geo: &Geometry, x_off: u64, out_off: u64, caps: DeviceCaps) -> Result<Vec<Share>> {
    let ci_fits = |b: u64, g: u64, c0: u64, n: u64| caps.fits(x_off + geo.input_at(b, g, c0), n * geo.in_sp);
    let co_fits = |b: u64, g: u64, c0: u64, n: u64| caps.fits(out_off + geo.output_at(b, g, c0), n * geo.out_sp);
    let mut v = Vec::new();
    for b in 0..geo.nb {
        let batch = b..b + 1;
        let mut g = 0;
        while g < geo.groups {
            let whole_groups = |g0: usize, n: usize| ci_fits(b, g0 as u64, 0, n as u64 * geo.cig) && co_fits(b, g0 as u64, 0, n as u64 * geo.cog);
            let n = longest_fit(g as usize, geo.groups as usize, whole_groups) as u64;
            if n > 0 {
                v.push(Share { batch: batch.clone(), groups: g..g + n, ci: 0..geo.cig, co: 0..geo.cog });
                g += n;
                continue;
            }
            let ci = runs(geo.cig, 1, |c0, n| ci_fits(b, g, c0, n)).ok_or_else(|| too_large("input", geo.in_sp, caps))?;
            // Output channel runs in multiples of 4 keep the vec4 weight loads.
            let co = runs(geo.cog, 4, |c0, n| co_fits(b, g, c0, n)).ok_or_else(|| too_large("output", geo.out_sp, caps))?;
            for co in &co {
                for ci in &ci {
                    v.push(Share { batch: batch.clone(), groups: g..g + 1, ci: ci.clone(), co: co.clone() });
                }
            }
            g += 1;
        }
    }
    Ok(v)
}

/// `0..n` cut into the longest runs that fit, each but the last a multiple of `step` when it can be.
fn runs(n: u64, step: u64, fits: impl Fn(u64, u64) -> bool) -> Option<Vec<Range<u64>>> {
    let mut v = Vec::new();
    let mut lo = 0;
    while lo < n {
        let mut len = longest_fit(lo as usize, n as usize, |l, m| fits(l as u64, m as u64)) as u64;
        if len == 0 {
            return None;
        }
        if lo + len < n && len >= step {
            len -= len % step;
        }
        v.push(lo..lo + len);
        lo += len;
    }
    Some(v)
}

fn too_large(what: &str, plane: u64, caps: DeviceCaps) -> Error {
    Error::Unsupported(format!(
        "kernel `conv`: one {what} channel of one batch item holds {} bytes, more than this adapter binds at once ({} bytes); lower the input size",
        plane * 4,
        caps.max_binding_bytes
    ))
}

/// The dispatch of one share; `windowed` binds the input and the output as windows around the share's part.
fn dispatch(a: &OpArgs, c: &Conv, geo: &Geometry, share: &Share, windowed: bool) -> Result<Dispatch> {
    let (x, out, w) = (&a.inputs[0], a.output, &a.params[0]);
    let bias = if c.bias { a.params.get(1) } else { None };
    let (b0, g0, ci0, co0) = (share.batch.start, share.groups.start, share.ci.start, share.co.start);
    let (nb, groups) = (share.batch.end - b0, share.groups.end - g0);
    let (cig, cog) = (share.ci.end - ci0, share.co.end - co0);
    let rows = nb * geo.rdim.iter().product::<u64>();
    let ng = column_groups(cog);
    let col_tiles = cog.div_ceil(4 * ng);
    let row_tiles = rows.div_ceil(TILE_ROWS);
    let tiles = col_tiles * row_tiles * groups * geo.classes.iter().product::<u64>();
    // Where the share's input and output start, and how much of each it reads or writes (channels of
    // consecutive groups are consecutive, so several whole groups are one run).
    let (x_first, x_count) = (x.offset + geo.input_at(b0, g0, ci0), nb * groups * cig * geo.in_sp);
    let (y_first, y_count) = (out.offset + geo.output_at(b0, g0, co0), nb * groups * cog * geo.out_sp);
    let (x_window, y_window) = (a.caps.window(x_first, x_count), a.caps.window(y_first, y_count));
    let (x_base, y_base) = if windowed { (x_window.0 / 4, y_window.0 / 4) } else { (0, 0) };
    let w_off = w.offset + g0 * geo.w_gstride + ci0 * geo.w_cstride + co0;
    let vec4_ok = [cog, geo.w_kstride, geo.w_cstride, geo.w_gstride, w_off].iter().all(|v| v.is_multiple_of(4));
    let accumulate = ci0 > 0;
    let p = Params {
        rows: u32_of(rows, "output pixels")?,
        row_tiles: row_tiles as u32,
        col_tiles: col_tiles as u32,
        tiles: u32_of(tiles, "convolution tiles")?,
        groups: u32_of(groups, "groups")?,
        cog: u32_of(cog, "output channels")?,
        cig: u32_of(cig, "input channels")?,
        has_bias: u32::from(bias.is_some() && !accumulate),
        rdim: vec4(geo.rdim, geo.classes[2], "the output")?,
        odim: vec4(geo.osz, geo.out_sp, "the output")?,
        idim: vec4(geo.isz, geo.in_sp, "the input")?,
        kdim: vec4(geo.k, u64::from(geo.transposed), "the kernel")?,
        stride: vec4(geo.s, geo.classes[1], "the stride")?,
        pad: vec4(geo.pad, 0, "the padding")?,
        dil: vec4(geo.dil, 0, "the dilation")?,
        offs: [
            u32_of(x_first - x_base, "the input offset")?,
            u32_of(w_off, "the weight offset")?,
            u32_of(bias.map_or(0, |b| b.offset + g0 * geo.cog + co0), "the bias offset")?,
            u32_of(y_first - y_base, "the output offset")?,
        ],
        in_bstride: u32_of(geo.groups * geo.cig * geo.in_sp, "the input")?,
        out_bstride: u32_of(geo.groups * geo.cog * geo.out_sp, "the output")?,
        w_kstride: u32_of(geo.w_kstride, "the weight")?,
        w_cstride: u32_of(geo.w_cstride, "the weight")?,
        w_gstride: u32_of(geo.w_gstride, "the weight")?,
        accumulate: u32::from(accumulate),
        _p: [0; 2],
    };
    // A dummy for the bias binding when there is none: the weight's buffer, bound read-only like the bias.
    let buffers = vec![x.buffer, w.buffer, bias.unwrap_or(w).buffer, out.buffer];
    let (kernel, entry) = if a.caps.tiled_gemm {
        (&TILED_KERNEL, "conv_tiled")
    } else if a.caps.subgroups {
        (&SUBGROUP_KERNEL, "conv")
    } else {
        (&KERNEL, "conv")
    };
    let mut d = Dispatch::new(kernel, entry, &p, buffers, grid(tiles, a.caps.max_groups)?).with(vec![("NG", ng as f64), ("VEC4", f64::from(u8::from(vec4_ok)))]);
    if windowed {
        d = d.window(0, x_window).window(3, y_window);
    }
    Ok(d)
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
