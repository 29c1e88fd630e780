//! Reference upsampling, as PyTorch's `F.interpolate` computes it in ATen's CPU kernels: `nearest`, and
//! `linear` (linear, bilinear or trilinear by the number of spatial axes) with or without `align_corners`,
//! to a `size` or by a `scale` factor.
//!
//! Each spatial axis maps output coordinate `o` to input coordinates separately; the rules, in f32 as ATen
//! computes them for f32 tensors:
//! - the step: with `align_corners`, `(in - 1) / (out - 1)` (0 when `out == 1`); otherwise `1 / scale` when a
//!   scale factor was given (not `in / out`: `F.interpolate` passes the factor on unless told to recompute
//!   it), else `in / out`;
//! - `nearest`: `min(floor(o · step), in - 1)`;
//! - `linear`: the source coordinate `step · o` (`align_corners`) or `max(step · (o + 0.5) - 0.5, 0)`; it
//!   blends input `i0 = min(floor(src), in - 1)` and the next one (`i0` itself at the end) with weights
//!   `1 - λ` and `λ = src - i0` (clamped to [0, 1]); an axis of unchanged size copies.
//!
//! Checked against PyTorch 2.11 (CPU and CUDA) on the cases of the tests below. The copy of an unchanged
//! axis matters only under a scale factor that keeps an axis's size (1.2 on an axis of 2): ATen's CPU
//! kernels copy per axis, its CUDA kernels not always (the bilinear one blends by the step `1/scale`).

use crate::graph::OpSpec;
use crate::graph::ops::{Upsample, UpsampleMode};
use crate::graph::tensor::TensorInfo;
use ndarray::{ArrayD, Dimension, IxDyn};

/// ATen's `compute_scales_value`: the input step per output step when corners are not aligned.
fn scales_value(scale: Option<f64>, n_in: usize, n_out: usize) -> f32 {
    match scale {
        Some(s) if s > 0.0 => (1.0 / s) as f32,
        _ => n_in as f32 / n_out as f32,
    }
}

/// ATen's `area_pixel_compute_scale`.
fn area_pixel_scale(n_in: usize, n_out: usize, align_corners: bool, scale: Option<f64>) -> f32 {
    if align_corners {
        if n_out > 1 { (n_in - 1) as f32 / (n_out - 1) as f32 } else { 0.0 }
    } else {
        scales_value(scale, n_in, n_out)
    }
}

/// ATen's `area_pixel_compute_source_index` for linear modes.
fn area_pixel_source(step: f32, o: usize, align_corners: bool) -> f32 {
    if align_corners { step * o as f32 } else { (step * (o as f32 + 0.5) - 0.5).max(0.0) }
}

/// The input index output `o` of a `nearest` axis reads (ATen's `nearest_neighbor_compute_source_index`).
pub fn nearest_source(o: usize, n_in: usize, n_out: usize, scale: Option<f64>) -> usize {
    ((o as f32 * scales_value(scale, n_in, n_out)).floor() as usize).min(n_in - 1)
}

/// The two input indices output `o` of a `linear` axis blends and the weight of the second (ATen's
/// `compute_source_index_and_lambda`).
pub fn linear_source(o: usize, n_in: usize, n_out: usize, align_corners: bool, scale: Option<f64>) -> (usize, usize, f32) {
    if n_out == n_in {
        return (o, o, 0.0);
    }
    let src = area_pixel_source(area_pixel_scale(n_in, n_out, align_corners, scale), o, align_corners);
    let i0 = (src.floor() as usize).min(n_in - 1);
    let lambda = (src - i0 as f32).clamp(0.0, 1.0);
    (i0, i0 + usize::from(i0 < n_in - 1), lambda)
}

/// `upsample` of `[B, C, *spatial]`.
pub fn upsample(x: &ArrayD<f32>, u: &Upsample) -> Result<ArrayD<f32>, String> {
    let out = u.infer(&[TensorInfo::f32(x.shape())])?;
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let (in_sp, out_sp) = (&x.shape()[2..], &out.shape[2..]);
    // Per axis and output coordinate: the (input index, weight) pairs it blends.
    let taps: Vec<Vec<Vec<(usize, f64)>>> = (0..in_sp.len())
        .map(|d| {
            (0..out_sp[d])
                .map(|o| match u.mode {
                    UpsampleMode::Nearest => vec![(nearest_source(o, in_sp[d], out_sp[d], u.scale), 1.0)],
                    UpsampleMode::Linear => {
                        let (i0, i1, l) = linear_source(o, in_sp[d], out_sp[d], u.align_corners, u.scale);
                        vec![(i0, f64::from(1.0 - l)), (i1, f64::from(l))]
                    }
                })
                .collect()
        })
        .collect();
    let plane: usize = in_sp.iter().product();
    let mut values = Vec::with_capacity(out.numel() as usize);
    for bc in 0..x.shape()[0] * x.shape()[1] {
        let src = &data[bc * plane..(bc + 1) * plane];
        for o in ndarray::indices(IxDyn(out_sp)) {
            // Every combination of one tap per axis: its input element times the product of its weights.
            let mut acc = vec![(0usize, 1.0f64)];
            for (d, &od) in o.slice().iter().enumerate() {
                acc = acc.iter().flat_map(|&(at, w)| taps[d][od].iter().map(move |&(i, wi)| (at * in_sp[d] + i, w * wi))).collect();
            }
            values.push(acc.iter().map(|&(at, w)| w * f64::from(src[at])).sum::<f64>() as f32);
        }
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&out.shape), values).expect("one value per output element"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(x: &[f32], spatial: &[usize], scale: Option<f64>, size: Option<Vec<usize>>, mode: UpsampleMode, align_corners: bool) -> Vec<f32> {
        let mut shape = vec![1, 1];
        shape.extend(spatial);
        let x = ArrayD::from_shape_vec(IxDyn(&shape), x.to_vec()).unwrap();
        upsample(&x, &Upsample { scale, size, mode, align_corners }).unwrap().iter().copied().collect()
    }

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn bilinear_2x2_to_4x4_without_align_corners() {
        // Source coordinates per axis: max(0.5·(o + 0.5) - 0.5, 0) = 0, 0.25, 0.75, 1.25 -> blends at
        // 0, 0.25, 0.75 and (clamped to the last input) 1. The input is 1 + 2·row + col, so the output is
        // 1 + 2·r + c at those positions.
        let x = [1.0, 2.0, 3.0, 4.0];
        #[rustfmt::skip]
        let want = [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ];
        close(&up(&x, &[2, 2], Some(2.0), None, UpsampleMode::Linear, false), &want);
        close(&up(&x, &[2, 2], None, Some(vec![4, 4]), UpsampleMode::Linear, false), &want);
    }

    #[test]
    fn bilinear_2x2_to_4x4_with_align_corners() {
        // Step (2 - 1) / (4 - 1) = 1/3: positions 0, 1/3, 2/3, 1; corners are kept.
        let t = 1.0 / 3.0;
        #[rustfmt::skip]
        let want = [
            1.0,         1.0 + t,         1.0 + 2.0 * t,         2.0,
            1.0 + 2.0 * t, 2.0,           2.0 + t,               2.0 + 2.0 * t,
            2.0 + t,     2.0 + 2.0 * t,   3.0,                   3.0 + t,
            3.0,         3.0 + t,         3.0 + 2.0 * t,         4.0,
        ];
        close(&up(&[1.0, 2.0, 3.0, 4.0], &[2, 2], Some(2.0), None, UpsampleMode::Linear, true), &want);
    }

    #[test]
    fn a_scale_factor_sets_the_step_not_the_sizes() {
        // 3 -> 4 by scale 1.5: step 1/1.5, positions max(0, -1/6), 1/2, 7/6, 11/6 on the ramp [0, 1, 2].
        let x = [0.0, 1.0, 2.0];
        close(&up(&x, &[3], Some(1.5), None, UpsampleMode::Linear, false), &[0.0, 0.5, 7.0 / 6.0, 11.0 / 6.0]);
        // The same sizes by `size`: step 3/4, positions 0, 0.625, 1.375, 2.125 (clamped to 2).
        close(&up(&x, &[3], None, Some(vec![4]), UpsampleMode::Linear, false), &[0.0, 0.625, 1.375, 2.0]);
        // Nearest, 3 -> 4 by scale 1.6 reads floor(3 · 0.625) = 1 last; by size, floor(3 · 0.75) = 2.
        assert_eq!(up(&x, &[3], Some(1.6), None, UpsampleMode::Nearest, false), vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(up(&x, &[3], None, Some(vec![4]), UpsampleMode::Nearest, false), vec![0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn nearest_floors_and_unchanged_linear_axes_copy() {
        // Doubling repeats each element; 3 -> 2 reads floor(o · 1.5) = 0, 1.
        assert_eq!(up(&[1.0, 2.0], &[2], Some(2.0), None, UpsampleMode::Nearest, false), vec![1.0, 1.0, 2.0, 2.0]);
        assert_eq!(up(&[1.0, 2.0, 3.0], &[3], None, Some(vec![2]), UpsampleMode::Nearest, false), vec![1.0, 2.0]);
        // Scale 1.2 keeps 2 elements. Linear copies (step 1/1.2 would blend 0 and 1 at o = 1, giving 1.75);
        // nearest has no such shortcut: floor(1 / 1.2) = 0.
        assert_eq!(up(&[1.0, 2.0], &[2], Some(1.2), None, UpsampleMode::Linear, false), vec![1.0, 2.0]);
        assert_eq!(up(&[1.0, 2.0], &[2], Some(1.2), None, UpsampleMode::Nearest, false), vec![1.0, 1.0]);
    }

    #[test]
    fn a_long_axis_matches_pytorch() {
        // F.interpolate of the ramp 0..37 by scale 2.9 (107 outputs), as PyTorch 2.11 printed it.
        let ramp: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let nearest = up(&ramp, &[37], Some(2.9), None, UpsampleMode::Nearest, false);
        // Runs of three, except the twos that start at 9, 19, 29 and 36.
        let runs: Vec<usize> = (0..37).map(|v| nearest.iter().filter(|&&x| x == v as f32).count()).collect();
        let twos: Vec<usize> = (0..37).filter(|&v| runs[v] == 2).collect();
        assert_eq!((nearest.len(), twos), (107, vec![9, 19, 29, 36]));
        let linear = up(&ramp, &[37], Some(2.9), None, UpsampleMode::Linear, false);
        for (o, want) in [(0, 0.0), (1, 0.01724), (2, 0.36207), (14, 4.5), (105, 35.87931), (106, 36.0)] {
            assert!((linear[o] - want).abs() < 1e-4, "output {o}: {} vs {want}", linear[o]);
        }
    }

    #[test]
    fn trilinear_with_align_corners_blends_eight_corners() {
        // A 2x2x2 cube of value 4·d + 2·h + w to 3x3x3 with corners aligned: step 1/2, so the centre is
        // the mean of all eight corners (3.5) and the output is 2·d + h + w / 2 on the 0, 1/2, 1 grid.
        let x: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let y = up(&x, &[2, 2, 2], None, Some(vec![3, 3, 3]), UpsampleMode::Linear, true);
        assert_eq!(y[13], 3.5);
        let want: Vec<f32> = ndarray::indices((3, 3, 3)).into_iter().map(|(d, h, w)| 2.0 * d as f32 + h as f32 + w as f32 / 2.0).collect();
        close(&y, &want);
    }
}
