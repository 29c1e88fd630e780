//! Reference binary elementwise ops (NumPy broadcasting) and the tensor-fusion outer product. Unary ops
//! need no file: they are `UnaryFn::apply` on every element.

use crate::graph::ops::BinaryKind;
use crate::graph::tensor::broadcast;
use ndarray::{ArrayD, IxDyn, Zip};

pub fn binary(kind: BinaryKind, a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let shape = broadcast(a.shape(), b.shape())?;
    let (Some(av), Some(bv)) = (a.broadcast(IxDyn(&shape)), b.broadcast(IxDyn(&shape))) else {
        return Err(format!("{:?} and {:?} do not broadcast", a.shape(), b.shape()));
    };
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| kind.apply(x, y)))
}

/// Row by row over the leading axes: `[1?, a] ⊗ [1?, b]` flattened with `a`'s index major.
pub fn outer_product(a: &ArrayD<f32>, b: &ArrayD<f32>, one_a: bool, one_b: bool) -> ArrayD<f32> {
    let (m, n) = (*a.shape().last().unwrap(), *b.shape().last().unwrap());
    let (ma, nb) = (m + usize::from(one_a), n + usize::from(one_b));
    let rows = a.len() / m;
    let a_shape = a.shape().to_vec();
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
    let extend = |v: &[f32], one: bool| -> Vec<f32> { if one { std::iter::once(1.0).chain(v.iter().copied()).collect() } else { v.to_vec() } };
    let mut out = Vec::with_capacity(rows * ma * nb);
    for r in 0..rows {
        let ra = extend(&a[r * m..(r + 1) * m], one_a);
        let rb = extend(&b[r * n..(r + 1) * n], one_b);
        for &x in &ra {
            out.extend(rb.iter().map(|&y| x * y));
        }
    }
    let mut shape = a_shape[..a_shape.len() - 1].to_vec();
    shape.push(ma * nb);
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("length matches")
}
