//! Reference convolutions and padding, written from their definitions with plain loops: a convolution
//! sums input × weight over every tap whose input position lies inside the input; a transposed convolution
//! scatters every input element through every tap to the output position it maps to (PyTorch's
//! definition, deliberately not the gather the GPU kernel computes). 1-D and 2-D run as 3-D with unit axes.
//! Weights are in the layout of [`crate::exec::params`]: `[k..., in/groups, out]`, or `[k..., in,
//! out/groups]` when transposed.

use crate::graph::ops::{per_dim_pub, Conv, Pad, PadMode};
use ndarray::{Array5, ArrayD, Ix5, IxDyn};

/// `x [B, C, *spatial]` as `[B, C, D, H, W]`, unit axes in front of the spatial ones.
fn as_5d(x: &ArrayD<f32>) -> Array5<f32> {
    let s = x.shape();
    let mut shape = [1usize; 5];
    shape[0] = s[0];
    shape[1] = s[1];
    shape[5 - (s.len() - 2)..].copy_from_slice(&s[2..]);
    x.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).expect("same element count").into_dimensionality::<Ix5>().expect("rank 5")
}

/// Per-dimension values as 3 (z, y, x), `fill` for the missing leading ones.
fn as_3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut out = [fill; 3];
    out[3 - v.len()..].copy_from_slice(v);
    out
}

/// The convolution `c` of `x` (`[B, C_in, *spatial]`) into `out_shape` (from shape inference).
pub fn conv(c: &Conv, x: &ArrayD<f32>, weight: &ArrayD<f32>, bias: Option<&ArrayD<f32>>, out_shape: &[usize]) -> Result<ArrayD<f32>, String> {
    let d = c.dims;
    let k = as_3(&per_dim_pub(&c.kernel, d, "kernel")?, 1);
    let s = as_3(&per_dim_pub(&c.stride, d, "stride")?, 1);
    let p = as_3(&per_dim_pub(&c.padding, d, "padding")?, 0);
    let dil = as_3(&per_dim_pub(&c.dilation, d, "dilation")?, 1);
    let x5 = as_5d(x);
    let (nb, cin) = (x5.shape()[0], x5.shape()[1]);
    let isz = [x5.shape()[2], x5.shape()[3], x5.shape()[4]];
    let cout = c.out;
    let osz = as_3(&out_shape[2..], 1);
    let g = c.groups;
    let (cig, cog) = (cin / g, cout / g);
    // The weight as [taps, rows, columns]: rows are in/groups (in when transposed), columns out (out/groups).
    let w = weight.as_standard_layout();
    let w = w.as_slice().expect("standard layout");
    let (rows, cols) = if c.transposed { (cin, cog) } else { (cig, cout) };
    if w.len() != k.iter().product::<usize>() * rows * cols {
        return Err(format!("weight has {} values, expected {:?} taps × {rows} × {cols}", w.len(), k));
    }
    let wat = |kz: usize, ky: usize, kx: usize, r: usize, col: usize| w[(((kz * k[1] + ky) * k[2] + kx) * rows + r) * cols + col];
    let mut y = Array5::<f32>::zeros((nb, cout, osz[0], osz[1], osz[2]));
    // Input position of output `o` through tap `t` along axis `a` (forward), if inside the input.
    let fwd = |a: usize, o: usize, t: usize| -> Option<usize> {
        let i = (o * s[a] + t * dil[a]).checked_sub(p[a])?;
        (i < isz[a]).then_some(i)
    };
    // Output position of input `i` through tap `t` along axis `a` (transposed), if inside the output.
    let bwd = |a: usize, i: usize, t: usize| -> Option<usize> {
        let o = (i * s[a] + t * dil[a]).checked_sub(p[a])?;
        (o < osz[a]).then_some(o)
    };
    for b in 0..nb {
        if !c.transposed {
            for co in 0..cout {
                let grp = co / cog;
                for oz in 0..osz[0] {
                    for oy in 0..osz[1] {
                        for ox in 0..osz[2] {
                            let mut acc = 0.0f64;
                            for ci in 0..cig {
                                for kz in 0..k[0] {
                                    let Some(iz) = fwd(0, oz, kz) else { continue };
                                    for ky in 0..k[1] {
                                        let Some(iy) = fwd(1, oy, ky) else { continue };
                                        for kx in 0..k[2] {
                                            let Some(ix) = fwd(2, ox, kx) else { continue };
                                            acc += f64::from(x5[[b, grp * cig + ci, iz, iy, ix]]) * f64::from(wat(kz, ky, kx, ci, co));
                                        }
                                    }
                                }
                            }
                            y[[b, co, oz, oy, ox]] = acc as f32;
                        }
                    }
                }
            }
        } else {
            for ci in 0..cin {
                let grp = ci / cig;
                for iz in 0..isz[0] {
                    for iy in 0..isz[1] {
                        for ix in 0..isz[2] {
                            let v = x5[[b, ci, iz, iy, ix]];
                            for kz in 0..k[0] {
                                let Some(oz) = bwd(0, iz, kz) else { continue };
                                for ky in 0..k[1] {
                                    let Some(oy) = bwd(1, iy, ky) else { continue };
                                    for kx in 0..k[2] {
                                        let Some(ox) = bwd(2, ix, kx) else { continue };
                                        for n in 0..cog {
                                            y[[b, grp * cog + n, oz, oy, ox]] += v * wat(kz, ky, kx, ci, n);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(bias) = bias {
        for co in 0..cout {
            let bv = bias[[co]];
            y.index_axis_mut(ndarray::Axis(1), co).mapv_inplace(|v| v + bv);
        }
    }
    y.into_shape_with_order(IxDyn(out_shape)).map_err(|e| e.to_string())
}

/// The input index that output index `o` of a padded axis of size `n` reads, or `None` for a zero.
fn pad_source(o: usize, pad: usize, n: usize, mode: PadMode) -> Option<usize> {
    let i = o as i64 - pad as i64;
    let n = n as i64;
    let j = match mode {
        PadMode::Zeros => i,
        // Mirror without repeating the edge: -1 reads 1, n reads n - 2.
        PadMode::Reflect => {
            if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            }
        }
        PadMode::Replicate => i.clamp(0, n - 1),
    };
    (0..n).contains(&j).then_some(j as usize)
}

/// `x [B, C, *spatial]` padded on both sides of every spatial axis.
pub fn pad(pd: &Pad, x: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let rank = x.ndim();
    let p = per_dim_pub(&pd.padding, rank - 2, "padding")?;
    let mut shape = x.shape().to_vec();
    for (a, &pa) in p.iter().enumerate() {
        shape[2 + a] += 2 * pa;
    }
    let mut y = ArrayD::<f32>::zeros(IxDyn(&shape));
    let mut src = vec![0usize; rank];
    for (idx, v) in y.indexed_iter_mut() {
        let mut inside = true;
        for a in 0..rank {
            if a < 2 {
                src[a] = idx[a];
            } else if let Some(i) = pad_source(idx[a], p[a - 2], x.shape()[a], pd.mode) {
                src[a] = i;
            } else {
                inside = false;
            }
        }
        if inside {
            *v = x[src.as_slice()];
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    fn flat(a: &ArrayD<f32>) -> Vec<f32> {
        a.iter().copied().collect()
    }

    #[test]
    fn conv2d_by_hand() {
        // One channel, 3×3 input, 2×2 kernel [[1, 0], [0, -1]], stride 1: each output is x[i][j] - x[i+1][j+1].
        let x = arr(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        let w = arr(&[2, 2, 1, 1], &[1., 0., 0., -1.]);
        let c = Conv::new(2, 1, 2, 1, 0, false);
        let y = conv(&c, &x, &w, None, &[1, 1, 2, 2]).unwrap();
        assert_eq!(flat(&y), vec![-4., -4., -4., -4.]);
        // Padding 1, stride 2, bias 10: outputs at (0, 0), (0, 2), (2, 0), (2, 2) of the padded grid.
        let c = Conv::new(2, 1, 2, 2, 1, true);
        let y = conv(&c, &x, &w, Some(&arr(&[1], &[10.])), &[1, 1, 2, 2]).unwrap();
        // Only taps inside the input count: (0,0): -x[0][0]; (0,1): -x[0][2]; (1,0): -x[2][0]; (1,1): x[1][1] - x[2][2].
        assert_eq!(flat(&y), vec![9., 7., 3., 6.]);
    }

    #[test]
    fn grouped_dilated_conv1d_by_hand() {
        // Two groups of one channel, kernel 2 with dilation 2: y[g][o] = w0·x[g][o] + w1·x[g][o + 2].
        let x = arr(&[1, 2, 4], &[1., 2., 3., 4., 10., 20., 30., 40.]);
        // [k, in/groups, out] = [2, 1, 2]: tap 0 weights (1, 2) for the two outputs, tap 1 (3, 4).
        let w = arr(&[2, 1, 2], &[1., 2., 3., 4.]);
        let c = Conv { groups: 2, dilation: vec![2], ..Conv::new(1, 2, 2, 1, 0, false) };
        let y = conv(&c, &x, &w, None, &[1, 2, 2]).unwrap();
        assert_eq!(flat(&y), vec![1. + 9., 2. + 12., 2. * 10. + 4. * 30., 2. * 20. + 4. * 40.]);
    }

    #[test]
    fn transposed_conv2d_by_hand() {
        // 2×2 input, all-ones 2×2 kernel, stride 1: every input adds to a 2×2 block of the 3×3 output.
        let x = arr(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        let ones = arr(&[2, 2, 1, 1], &[1., 1., 1., 1.]);
        let c = Conv { transposed: true, ..Conv::new(2, 1, 2, 1, 0, false) };
        let y = conv(&c, &x, &ones, None, &[1, 1, 3, 3]).unwrap();
        assert_eq!(flat(&y), vec![1., 3., 2., 4., 10., 6., 3., 7., 4.]);
        // Stride 2 on a 1×2 input: each input becomes a separate copy of the kernel scaled by it.
        let x = arr(&[1, 1, 1, 2], &[1., 2.]);
        let w = arr(&[2, 2, 1, 1], &[1., 2., 3., 4.]);
        let c = Conv { transposed: true, ..Conv::new(2, 1, 2, 2, 0, false) };
        let y = conv(&c, &x, &w, None, &[1, 1, 2, 4]).unwrap();
        assert_eq!(flat(&y), vec![1., 2., 2., 4., 3., 4., 6., 8.]);
        // Padding 1 crops one from each side of that; output padding 1 gives the right column back.
        let c = Conv { transposed: true, padding: vec![1], output_padding: vec![1], ..Conv::new(2, 1, 2, 2, 0, false) };
        let y = conv(&c, &x, &w, None, &[1, 1, 1, 3]).unwrap();
        assert_eq!(flat(&y), vec![4., 6., 8.]);
    }

    #[test]
    fn pad_modes_by_hand() {
        let x = arr(&[1, 1, 3], &[1., 2., 3.]);
        let pd = |mode| Pad { padding: vec![2], mode };
        assert_eq!(flat(&pad(&pd(PadMode::Zeros), &x).unwrap()), vec![0., 0., 1., 2., 3., 0., 0.]);
        assert_eq!(flat(&pad(&pd(PadMode::Reflect), &x).unwrap()), vec![3., 2., 1., 2., 3., 2., 1.]);
        assert_eq!(flat(&pad(&pd(PadMode::Replicate), &x).unwrap()), vec![1., 1., 1., 2., 3., 3., 3.]);
        // 2-D: padding 1 around a 1×1 image replicates it to 3×3.
        let one = arr(&[1, 1, 1, 1], &[5.]);
        assert_eq!(flat(&pad(&Pad { padding: vec![1], mode: PadMode::Replicate }, &one).unwrap()), vec![5.; 9]);
    }
}
