//! Reference pooling, in PyTorch's semantics: `max_pool{1,2,3}d` and `avg_pool{1,2,3}d` (stride, zero
//! padding, `ceil_mode`; average pooling counts padded zeros, as `count_include_pad=True` does) and
//! `adaptive_avg_pool{1,2,3}d` (PyTorch's adaptive windows, which overlap when the input does not divide
//! evenly). Sums accumulate in f64.

use crate::graph::OpSpec;
use crate::graph::ops::{AdaptiveAvgPool, Pool, PoolKind, per_dim_pub};
use crate::graph::tensor::TensorInfo;
use ndarray::{ArrayD, Dimension, IxDyn};

/// The input positions `[lo, hi)` one window covers along an axis of `n` elements, and how many positions
/// of the zero-padded axis it covers (PyTorch's `pool_size` factor: the window clipped at the end of the
/// padded axis, which only a `ceil_mode` window reaches past).
fn window(o: usize, n: usize, kernel: usize, stride: usize, pad: usize) -> (usize, usize, usize) {
    let start = (o * stride) as i64 - pad as i64;
    let end = (start + kernel as i64).min((n + pad) as i64);
    let padded = (end - start) as usize;
    (start.max(0) as usize, end.min(n as i64) as usize, padded)
}

/// Visits every output element of a `[B, C, *out]` result from a `[B, C, *in]` input: `f` gets the input
/// plane of the element (its `[B, C]` index flattened), the input's spatial shape and, per spatial axis, the
/// output coordinate; it returns the value.
fn per_output(x: &ArrayD<f32>, out_spatial: &[usize], mut f: impl FnMut(&[f32], &[usize], &[usize]) -> f32) -> ArrayD<f32> {
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let in_spatial = &x.shape()[2..];
    let plane: usize = in_spatial.iter().product();
    let planes = x.shape()[0] * x.shape()[1];
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(out_spatial);
    let mut out = Vec::with_capacity(shape.iter().product());
    for bc in 0..planes {
        let src = &data[bc * plane..(bc + 1) * plane];
        for o in ndarray::indices(IxDyn(out_spatial)) {
            out.push(f(src, in_spatial, o.slice()));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("one value per output element")
}

/// The row-major offset of `coord` in a tensor of `shape`.
fn offset(coord: &[usize], shape: &[usize]) -> usize {
    coord.iter().zip(shape).fold(0, |acc, (&c, &n)| acc * n + c)
}

/// Every input position of the box `[lo[d], hi[d])` (row-major order).
fn positions(lo: &[usize], hi: &[usize]) -> Vec<Vec<usize>> {
    let sizes: Vec<usize> = lo.iter().zip(hi).map(|(&l, &h)| h - l).collect();
    ndarray::indices(IxDyn(&sizes)).into_iter().map(|i| i.slice().iter().zip(lo).map(|(&c, &l)| c + l).collect()).collect()
}

/// `max_pool` or `avg_pool` over the spatial axes of `[B, C, *spatial]`.
pub fn pool(x: &ArrayD<f32>, p: &Pool) -> Result<ArrayD<f32>, String> {
    let out = p.infer(&[TensorInfo::f32(x.shape())])?;
    let kernel = per_dim_pub(&p.kernel, p.dims, "kernel")?;
    let stride = match &p.stride {
        Some(s) => per_dim_pub(s, p.dims, "stride")?,
        None => kernel.clone(),
    };
    let pad = per_dim_pub(&p.padding, p.dims, "padding")?;
    Ok(per_output(x, &out.shape[2..], |src, in_shape, o| {
        let (mut lo, mut hi, mut padded) = (vec![], vec![], 1);
        for d in 0..o.len() {
            let (l, h, n) = window(o[d], in_shape[d], kernel[d], stride[d], pad[d]);
            lo.push(l);
            hi.push(h);
            padded *= n;
        }
        let values = positions(&lo, &hi).into_iter().map(|c| src[offset(&c, in_shape)]);
        match p.kind {
            PoolKind::Max => values.fold(f32::NEG_INFINITY, f32::max),
            PoolKind::Avg => (values.map(f64::from).sum::<f64>() / padded as f64) as f32,
        }
    }))
}

/// PyTorch's adaptive window of output `i` of `o` along an axis of `n`: `[floor(i·n/o), ceil((i+1)·n/o))`.
fn adaptive_window(i: usize, n: usize, o: usize) -> (usize, usize) {
    (i * n / o, ((i + 1) * n).div_ceil(o))
}

/// `adaptive_avg_pool`: the mean of window `[floor(i·n/o), ceil((i+1)·n/o))` along every spatial axis.
pub fn adaptive_avg_pool(x: &ArrayD<f32>, a: &AdaptiveAvgPool) -> Result<ArrayD<f32>, String> {
    let out = a.infer(&[TensorInfo::f32(x.shape())])?;
    let out_spatial = out.shape[2..].to_vec();
    Ok(per_output(x, &out_spatial, |src, in_shape, o| {
        let (lo, hi): (Vec<usize>, Vec<usize>) = (0..o.len()).map(|d| adaptive_window(o[d], in_shape[d], out_spatial[d])).unzip();
        let cells = positions(&lo, &hi);
        let sum: f64 = cells.iter().map(|c| f64::from(src[offset(c, in_shape)])).sum();
        (sum / cells.len() as f64) as f32
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], v: Vec<f32>) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    fn values(a: &ArrayD<f32>) -> Vec<f32> {
        a.iter().copied().collect()
    }

    /// 0, 1, 2, … in a `[1, 1, *spatial]` tensor.
    fn ramp(spatial: &[usize]) -> ArrayD<f32> {
        let n: usize = spatial.iter().product();
        let mut shape = vec![1, 1];
        shape.extend(spatial);
        tensor(&shape, (0..n).map(|i| i as f32).collect())
    }

    #[test]
    fn ceil_mode_max_pool_keeps_the_partial_last_window() {
        // 5x5 ramp, 2x2 windows, stride 2, ceil_mode: 3x3 outputs; the last row and column of windows hold
        // only the input's last row or column (rows 4 and columns 4).
        let p = Pool { ceil_mode: true, ..Pool::new(PoolKind::Max, 2, 2, 2) };
        let y = pool(&ramp(&[5, 5]), &p).unwrap();
        assert_eq!(y.shape(), &[1, 1, 3, 3]);
        assert_eq!(values(&y), vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0]);
        // Without ceil_mode the partial windows are dropped.
        let floor = pool(&ramp(&[5, 5]), &Pool::new(PoolKind::Max, 2, 2, 2)).unwrap();
        assert_eq!(values(&floor), vec![6.0, 8.0, 16.0, 18.0]);
    }

    #[test]
    fn avg_pool_counts_padding_but_not_what_ceil_mode_adds_past_it() {
        // 1-D ramp [0, 6), kernel 3, stride 2, padding 1, ceil_mode: 4 windows [-1, 2) [1, 4) [3, 6) [5, 8).
        // The first counts its padded zero (3 positions); the last is clipped at the end of the padded axis,
        // 6 + 1, so its divisor is 2 (position 5 and one pad), not the kernel's 3.
        let p = Pool { padding: vec![1], ceil_mode: true, ..Pool::new(PoolKind::Avg, 1, 3, 2) };
        let y = pool(&ramp(&[6]), &p).unwrap();
        assert_eq!(y.shape(), &[1, 1, 4]);
        let want = [(0.0 + 1.0) / 3.0, (1.0 + 2.0 + 3.0) / 3.0, (3.0 + 4.0 + 5.0) / 3.0, 5.0 / 2.0];
        for (g, w) in values(&y).iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
        // 1-D [0..4), kernel 2, stride 3, ceil_mode: windows [0, 2) and [3, 5); the second is clipped at 4
        // (no padding to count), so it averages one element: 3 / 1.
        let p = Pool { ceil_mode: true, ..Pool::new(PoolKind::Avg, 1, 2, 3) };
        assert_eq!(values(&pool(&ramp(&[4]), &p).unwrap()), vec![0.5, 3.0]);
    }

    #[test]
    fn max_pool_ignores_padding_and_pools_every_axis_in_3d() {
        // ResNet stem window on a 2x2 map: kernel 3, stride 2, padding 1 -> one window [-1, 2)^2 = all 4.
        let p = Pool { padding: vec![1], ..Pool::new(PoolKind::Max, 2, 3, 2) };
        let x = tensor(&[1, 1, 2, 2], vec![-4.0, -3.0, -2.0, -1.0]);
        assert_eq!(values(&pool(&x, &p).unwrap()), vec![-1.0]);
        // 3-D: 2x2x2 windows over a 2x2x4 ramp: maxima of the two 2x2x2 blocks.
        let y = pool(&ramp(&[2, 2, 4]), &Pool::new(PoolKind::Max, 3, 2, 2)).unwrap();
        assert_eq!(y.shape(), &[1, 1, 1, 1, 2]);
        assert_eq!(values(&y), vec![13.0, 15.0]);
    }

    #[test]
    fn adaptive_windows_overlap_when_the_input_does_not_divide() {
        // 7 -> 3: windows [0, 3) [2, 5) [4, 7); 5 -> 3: [0, 2) [1, 4) [3, 5).
        let y = adaptive_avg_pool(&ramp(&[7]), &AdaptiveAvgPool { output: vec![3] }).unwrap();
        assert_eq!(values(&y), vec![1.0, 3.0, 5.0]);
        let y = adaptive_avg_pool(&ramp(&[5]), &AdaptiveAvgPool { output: vec![3] }).unwrap();
        assert_eq!(values(&y), vec![0.5, 2.0, 3.5]);
        // Upsampling 2 -> 3 (VGG's 7x7 pool on a smaller map): windows [0, 1) [0, 2) [1, 2).
        let y = adaptive_avg_pool(&tensor(&[1, 1, 2], vec![2.0, 4.0]), &AdaptiveAvgPool { output: vec![3] }).unwrap();
        assert_eq!(values(&y), vec![2.0, 3.0, 4.0]);
        // 2-D, 3x3 -> 2x2: windows [0, 2) x [0, 2) etc. on the ramp 0..9.
        let y = adaptive_avg_pool(&ramp(&[3, 3]), &AdaptiveAvgPool { output: vec![2, 2] }).unwrap();
        assert_eq!(values(&y), vec![2.0, 3.0, 5.0, 6.0]);
    }
}
