//! The tensor-fusion outer product (`outer_product.wgsl`).

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::graph::ops::OuterProduct;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "outer_product", sources: &[include_str!("outer_product.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    total: u32,
    m: u32,
    n: u32,
    ea: u32,
    eb: u32,
    a_off: u32,
    b_off: u32,
    y_off: u32,
}

pub fn outer_product(a: &OpArgs, o: &OuterProduct) -> Result<Vec<Dispatch>> {
    let (x, z, y) = (&a.inputs[0], &a.inputs[1], a.output);
    let total = y.numel();
    let p = Params {
        total: u32_of(total, "the element count")?,
        m: *x.shape().last().unwrap() as u32,
        n: *z.shape().last().unwrap() as u32,
        ea: u32::from(o.prepend_one_a),
        eb: u32::from(o.prepend_one_b),
        a_off: x.off(),
        b_off: z.off(),
        y_off: y.off(),
    };
    Ok(vec![Dispatch::new(&KERNEL, "main", &p, vec![x.buffer, z.buffer, y.buffer], grid(total.div_ceil(256), a.caps.max_groups)?)])
}
