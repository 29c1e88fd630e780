//! Reference normalizations at inference, in f64: BatchNorm from running statistics, LayerNorm and
//! InstanceNorm from each row's own mean and biased variance (PyTorch's definitions, eps 1e-5).

use ndarray::{ArrayD, Axis, IxDyn};

/// The `eps` added to every variance (PyTorch's default for all three ops).
pub const EPS: f32 = 1e-5;

/// Normalizes each run of `len` consecutive elements of `x` (in row-major order) by its own mean and variance; `affine(row,
/// j)` gives the scale and shift of element j of a row.
fn normalize_rows(x: &ArrayD<f32>, len: usize, affine: impl Fn(usize, usize) -> (f64, f64)) -> ArrayD<f32> {
    let values: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut out = Vec::with_capacity(values.len());
    for (r, row) in values.chunks(len).enumerate() {
        let n = row.len() as f64;
        let mean = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + f64::from(EPS)).sqrt();
        for (j, v) in row.iter().enumerate() {
            let (scale, shift) = affine(r, j);
            out.push((((v - mean) * inv) * scale + shift) as f32);
        }
    }
    ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("same element count")
}

/// LayerNorm over the last `dims` axes; `affine` holds `weight` and `bias` of the normalized shape.
pub fn layer_norm(x: &ArrayD<f32>, dims: usize, affine: Option<(&ArrayD<f32>, &ArrayD<f32>)>) -> ArrayD<f32> {
    let len: usize = x.shape()[x.ndim() - dims..].iter().product();
    // Element j of a row is element j of the normalized shape, row-major.
    let flat = |t: &ArrayD<f32>| t.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
    match affine {
        None => normalize_rows(x, len, |_, _| (1.0, 0.0)),
        Some((w, b)) => {
            let (w, b) = (flat(w), flat(b));
            normalize_rows(x, len, |_, j| (w[j], b[j]))
        }
    }
}

/// InstanceNorm of `[B, C, *spatial]` over the spatial axes; `affine` holds `weight [C]` and `bias [C]`.
pub fn instance_norm(x: &ArrayD<f32>, affine: Option<(&ArrayD<f32>, &ArrayD<f32>)>) -> ArrayD<f32> {
    let c = x.shape()[1];
    let len: usize = x.shape()[2..].iter().product();
    match affine {
        None => normalize_rows(x, len, |_, _| (1.0, 0.0)),
        // Row r is sample r / C, channel r % C.
        Some((w, b)) => normalize_rows(x, len, |r, _| (f64::from(w[[r % c]]), f64::from(b[[r % c]]))),
    }
}

/// BatchNorm of `[B, C, ...]` with running statistics: `(x - mean[c]) / sqrt(var[c] + eps) · weight[c] +
/// bias[c]`.
pub fn batch_norm(x: &ArrayD<f32>, weight: &ArrayD<f32>, bias: &ArrayD<f32>, mean: &ArrayD<f32>, var: &ArrayD<f32>) -> ArrayD<f32> {
    let mut y = x.to_owned();
    for (c, mut channel) in y.axis_iter_mut(Axis(1)).enumerate() {
        let inv = 1.0 / (f64::from(var[[c]]) + f64::from(EPS)).sqrt();
        let (m, w, b) = (f64::from(mean[[c]]), f64::from(weight[[c]]), f64::from(bias[[c]]));
        channel.mapv_inplace(|v| ((f64::from(v) - m) * inv * w + b) as f32);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, ArrayD};

    fn a(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    fn close(got: &ArrayD<f32>, want: &[f32]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn layer_norm_by_hand() {
        // Rows [1, 3] and [10, 14]: means 2 and 12, variances 1 and 4, so ±1/sqrt(1 + eps), ±2/sqrt(4 + eps).
        let x = a(&[2, 2], &[1.0, 3.0, 10.0, 14.0]);
        let (s1, s4) = (1.0 / (1.0f32 + EPS).sqrt(), 2.0 / (4.0f32 + EPS).sqrt());
        close(&layer_norm(&x, 1, None), &[-s1, s1, -s4, s4]);
        // Scales [2, 3] and shifts [0.5, -1] per element of the row.
        let (w, b) = (arr1(&[2.0f32, 3.0]).into_dyn(), arr1(&[0.5f32, -1.0]).into_dyn());
        close(&layer_norm(&x, 1, Some((&w, &b))), &[-2.0 * s1 + 0.5, 3.0 * s1 - 1.0, -2.0 * s4 + 0.5, 3.0 * s4 - 1.0]);
        // Over both axes: one row [1, 3, 10, 14], mean 7, variance (36 + 16 + 9 + 49) / 4 = 27.5.
        let inv = 1.0 / (27.5f32 + EPS).sqrt();
        close(&layer_norm(&x, 2, None), &[-6.0 * inv, -4.0 * inv, 3.0 * inv, 7.0 * inv]);
    }

    #[test]
    fn instance_norm_by_hand() {
        // [1, 2, 2]: channel 0 is [0, 4] (mean 2, variance 4), channel 1 is [5, 5] (variance 0, so 0).
        let x = a(&[1, 2, 2], &[0.0, 4.0, 5.0, 5.0]);
        let s = 2.0 / (4.0f32 + EPS).sqrt();
        close(&instance_norm(&x, None), &[-s, s, 0.0, 0.0]);
        let (w, b) = (arr1(&[3.0f32, 1.0]).into_dyn(), arr1(&[0.0f32, 7.0]).into_dyn());
        close(&instance_norm(&x, Some((&w, &b))), &[-3.0 * s, 3.0 * s, 7.0, 7.0]);
    }

    #[test]
    fn batch_norm_by_hand() {
        // [2, 2] (no spatial axes): channel 0 mean 1, variance 4 - eps (so 1/2), scale 4, shift 1;
        // channel 1 mean 0, variance 0 (1/sqrt(eps)), scale 0, shift -2.
        let x = a(&[2, 2], &[3.0, 9.0, -1.0, 2.0]);
        let w = arr1(&[4.0f32, 0.0]).into_dyn();
        let b = arr1(&[1.0f32, -2.0]).into_dyn();
        let m = arr1(&[1.0f32, 0.0]).into_dyn();
        let v = arr1(&[4.0f32 - EPS, 0.0]).into_dyn();
        close(&batch_norm(&x, &w, &b, &m, &v), &[2.0 * 4.0 * 0.5 + 1.0, -2.0, -2.0 * 4.0 * 0.5 + 1.0, -2.0]);
        // [1, 2, 2]: the channel is axis 1, whatever follows it.
        let x = a(&[1, 2, 2], &[1.0, 3.0, 0.0, 1.0]);
        close(&batch_norm(&x, &w, &b, &m, &v), &[1.0, 5.0, -2.0, -2.0]);
    }
}
