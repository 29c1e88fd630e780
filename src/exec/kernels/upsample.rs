//! Upsampling (`upsample.wgsl`): nearest and (bi/tri)linear over 1 to 3 spatial axes, by a scale factor or
//! to a size, with or without aligned corners; PyTorch's `F.interpolate` as `reference/upsample.rs` spells
//! it out. One dispatch per op, one invocation per output element.

use super::pool::axes3;
use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::graph::ops::{Upsample, UpsampleMode};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "upsample", sources: &[include_str!("upsample.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    x_off: u32,
    y_off: u32,
    align_corners: u32,
    in_size: [u32; 4],
    out_size: [u32; 4],
    step: [f32; 4],
}

/// The input step per output step of one axis, in f32 as ATen computes it; a linear axis of unchanged size
/// copies, as ATen's CPU kernels do (step 1: source `o`, weight 0 on the next input).
fn step(u: &Upsample, n_in: usize, n_out: usize) -> f32 {
    let unaligned = || match u.scale {
        Some(s) if s > 0.0 => (1.0 / s) as f32,
        _ => n_in as f32 / n_out as f32,
    };
    match u.mode {
        UpsampleMode::Nearest => unaligned(),
        UpsampleMode::Linear if n_in == n_out => 1.0,
        UpsampleMode::Linear if u.align_corners => {
            if n_out > 1 { (n_in - 1) as f32 / (n_out - 1) as f32 } else { 0.0 }
        }
        UpsampleMode::Linear => unaligned(),
    }
}

pub fn upsample(a: &OpArgs, u: &Upsample) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let (in_sp, out_sp) = (&x.shape()[2..], &y.shape()[2..]);
    let plane: u64 = in_sp.iter().map(|&d| d as u64).product();
    // Checks that there are at most three spatial axes.
    let in_size = axes3(in_sp, 1, plane, "the input")?;
    let mut steps = [1.0f32; 4];
    for (d, s) in steps[3 - in_sp.len()..3].iter_mut().enumerate() {
        *s = step(u, in_sp[d], out_sp[d]);
    }
    let p = Params {
        n: u32_of(y.numel(), "the output count")?,
        x_off: x.off(),
        y_off: y.off(),
        align_corners: u32::from(u.align_corners),
        in_size,
        out_size: axes3(out_sp, 1, 0, "the output")?,
        step: steps,
    };
    let entry = match u.mode {
        UpsampleMode::Nearest => "nearest",
        UpsampleMode::Linear => "linear",
    };
    let groups = grid(y.numel().div_ceil(256), a.caps.max_groups)?;
    Ok(vec![Dispatch::new(&KERNEL, entry, &p, vec![x.buffer, y.buffer], groups)])
}
