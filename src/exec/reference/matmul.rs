//! Reference `linear` and batched `matmul` (NumPy broadcasting of the batch axes).

use crate::graph::ops::MatMul;
use ndarray::{Array3, ArrayD, Axis, Ix1, Ix2, IxDyn};

/// `y = x · weight + bias` on the last axis; `weight` is `[in, out]`.
pub fn linear(x: &ArrayD<f32>, weight: &ArrayD<f32>, bias: Option<&ArrayD<f32>>) -> ArrayD<f32> {
    let k = *x.shape().last().expect("rank >= 1");
    let rows = x.len() / k;
    let x2 = x.as_standard_layout().into_owned().into_shape_with_order((rows, k)).expect("row-major");
    let w2 = weight.view().into_dimensionality::<Ix2>().expect("weight is [in, out]");
    let mut y = x2.dot(&w2);
    if let Some(b) = bias {
        y += &b.view().into_dimensionality::<Ix1>().expect("bias is [out]");
    }
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = w2.ncols();
    y.into_shape_with_order(IxDyn(&shape)).expect("same element count")
}

/// `scale · a · b` (or `· bᵀ`) over broadcast batch axes.
pub fn matmul(a: &ArrayD<f32>, b: &ArrayD<f32>, transpose_b: bool, scale: f32) -> Result<ArrayD<f32>, String> {
    let (batch, m, k, n) = MatMul { transpose_b, scale }.dims(a.shape(), b.shape())?;
    let (ra, rb) = (a.ndim(), b.ndim());
    let a3 = to_3d(a);
    let b3 = to_3d(b);
    let nb: usize = batch.iter().product();
    let mut out = Array3::<f32>::zeros((nb, m, n));
    for z in 0..nb {
        let av = a3.index_axis(Axis(0), broadcast_index(z, &batch, &a.shape()[..ra - 2]));
        let bv = b3.index_axis(Axis(0), broadcast_index(z, &batch, &b.shape()[..rb - 2]));
        let prod = if transpose_b { av.dot(&bv.t()) } else { av.dot(&bv) };
        debug_assert_eq!(prod.dim(), (m, n), "k = {k}");
        out.index_axis_mut(Axis(0), z).assign(&(prod * scale));
    }
    let mut shape = batch;
    shape.extend([m, n]);
    Ok(out.into_shape_with_order(IxDyn(&shape)).expect("same element count"))
}

/// `[..., r, c]` as `[batch, r, c]`.
fn to_3d(x: &ArrayD<f32>) -> Array3<f32> {
    let s = x.shape();
    let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
    x.as_standard_layout().into_owned().into_shape_with_order((x.len() / (r * c), r, c)).expect("row-major")
}

/// The linear batch index, in an operand whose batch shape `src` broadcasts to `out`, of output batch
/// element `z` (axes of size 1 in `src` repeat; missing leading axes too).
pub fn broadcast_index(z: usize, out: &[usize], src: &[usize]) -> usize {
    let mut rest = z;
    let (mut idx, mut stride) = (0, 1);
    for d in (0..out.len()).rev() {
        let coord = rest % out[d];
        rest /= out[d];
        let Some(sd) = (d + src.len()).checked_sub(out.len()) else { continue };
        if src[sd] > 1 {
            idx += coord * stride;
        }
        stride *= src[sd];
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_index_repeats_unit_and_missing_axes() {
        // out [2, 3]; src [3] -> index is the column.
        assert_eq!(broadcast_index(4, &[2, 3], &[3]), 1);
        // src [2, 1] -> index is the row.
        assert_eq!(broadcast_index(4, &[2, 3], &[2, 1]), 1);
        assert_eq!(broadcast_index(5, &[2, 3], &[2, 3]), 5);
    }

    #[test]
    fn matmul_matches_a_hand_product() {
        let a = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 0.0, 1.0, 1.0]).unwrap();
        let y = matmul(&a, &b, false, 2.0).unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![6.0, 4.0, 14.0, 8.0]);
        let yt = matmul(&a, &b, true, 1.0).unwrap();
        assert_eq!(yt.iter().copied().collect::<Vec<_>>(), vec![1.0, 3.0, 3.0, 7.0]);
    }
}
