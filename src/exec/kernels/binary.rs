//! Binary elementwise ops with NumPy broadcasting (`binary.wgsl`).

use super::{arr8, broadcast_strides, collapse, grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::graph::ops::BinaryKind;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "binary", sources: &[include_str!("binary.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    rank: u32,
    a_off: u32,
    b_off: u32,
    y_off: u32,
    _pad: [u32; 3],
    shape: [u32; 8],
    a_stride: [u32; 8],
    b_stride: [u32; 8],
}

/// 1 when a tensor holds integer ids (the kernel then uses their values).
fn ids(t: &super::TensorRef) -> f64 {
    f64::from(u8::from(t.info.dtype == crate::graph::DType::I64))
}

pub fn binary(a: &OpArgs, kind: BinaryKind) -> Result<Vec<Dispatch>> {
    let (x, z, y) = (&a.inputs[0], &a.inputs[1], a.output);
    let out = y.shape();
    let same = x.shape() == out && z.shape() == out;
    let (shape, strides) = collapse(out, &[broadcast_strides(x.shape(), out), broadcast_strides(z.shape(), out)]);
    let n = y.numel();
    let p = Params {
        n: u32_of(n, "the element count")?,
        rank: shape.len() as u32,
        a_off: x.off(),
        b_off: z.off(),
        y_off: y.off(),
        _pad: [0; 3],
        shape: arr8(&shape, "the broadcast shape")?,
        a_stride: arr8(&strides[0], "the broadcast shape")?,
        b_stride: arr8(&strides[1], "the broadcast shape")?,
    };
    let code = match kind {
        BinaryKind::Add => 0,
        BinaryKind::Sub => 1,
        BinaryKind::Mul => 2,
        BinaryKind::Div => 3,
        BinaryKind::Maximum => 4,
        BinaryKind::Minimum => 5,
    };
    Ok(vec![Dispatch::new(&KERNEL, "main", &p, vec![x.buffer, z.buffer, y.buffer], grid(n.div_ceil(256), a.caps.max_groups)?).with(vec![
        ("KIND", f64::from(code)),
        ("SAME_SHAPE", f64::from(u8::from(same))),
        ("A_IDS", ids(x)),
        ("B_IDS", ids(z)),
    ])])
}
