//! Unary elementwise functions (`unary.wgsl`): one pipeline per function, selected by the `FUNC` override.

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::graph::ops::UnaryFn;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "unary", sources: &[include_str!("unary.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    x_off: u32,
    y_off: u32,
    _p0: u32,
    x0: f32,
    x1: f32,
    _p1: [u32; 2],
}

/// The shader's number for a function and its two parameters.
fn encode(f: UnaryFn) -> (u32, f32, f32) {
    // Infinite clamp bounds become the largest finite floats: the same result for finite inputs, and
    // shader compilers may assume no infinities.
    let finite = |v: f32| v.clamp(f32::MIN, f32::MAX);
    match f {
        UnaryFn::Relu => (0, 0.0, 0.0),
        UnaryFn::LeakyRelu { slope } => (1, slope, 0.0),
        UnaryFn::Gelu => (2, 0.0, 0.0),
        UnaryFn::GeluTanh => (3, 0.0, 0.0),
        UnaryFn::Sigmoid => (4, 0.0, 0.0),
        UnaryFn::Tanh => (5, 0.0, 0.0),
        UnaryFn::Silu => (6, 0.0, 0.0),
        UnaryFn::Exp => (7, 0.0, 0.0),
        UnaryFn::Scale { factor, offset } => (8, factor, offset),
        UnaryFn::Clamp { min, max } => (9, finite(min), finite(max)),
        UnaryFn::KeepRange { low, high } => (10, finite(low), finite(high)),
        UnaryFn::Log => (11, 0.0, 0.0),
        UnaryFn::Abs => (12, 0.0, 0.0),
        UnaryFn::Pow { exponent } => (13, exponent, 0.0),
    }
}

pub fn unary(a: &OpArgs, f: UnaryFn) -> Result<Vec<Dispatch>> {
    let (x, y) = (&a.inputs[0], a.output);
    let (func, x0, x1) = encode(f);
    let n = y.numel();
    let p = Params { n: u32_of(n, "the element count")?, x_off: x.off(), y_off: y.off(), _p0: 0, x0, x1, _p1: [0; 2] };
    Ok(vec![Dispatch::new(&KERNEL, "main", &p, vec![x.buffer, y.buffer], grid(n.div_ceil(256), a.caps.max_groups)?).with(vec![("FUNC", f64::from(func))])])
}
