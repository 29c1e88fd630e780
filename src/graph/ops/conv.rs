//! Convolutions: 1-D, 2-D and 3-D, strided, dilated, grouped, and transposed. Zero padding only; reflect
//! padding (mmFormer) is a separate `Pad` op, as PyTorch runs it.

use super::{f32_bytes, one, one_or_many, per_dim, yes, zero};
use crate::graph::cost::{GemmShape, OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, fmt_shape, numel, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// `conv{1,2,3}d` and `conv_transpose{1,2,3}d`. Input `[B, C_in, *spatial]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv {
    /// Spatial dimensions (set by the op name).
    #[serde(skip, default = "two")]
    pub dims: usize,
    /// Transposed convolution (set by the op name).
    #[serde(skip)]
    pub transposed: bool,
    /// Output channels.
    pub out: usize,
    #[serde(deserialize_with = "one_or_many")]
    pub kernel: Vec<usize>,
    #[serde(default = "one", deserialize_with = "one_or_many")]
    pub stride: Vec<usize>,
    #[serde(default = "zero", deserialize_with = "one_or_many")]
    pub padding: Vec<usize>,
    #[serde(default = "one", deserialize_with = "one_or_many")]
    pub dilation: Vec<usize>,
    /// Extra size added to one side of a transposed convolution's output.
    #[serde(default = "zero", deserialize_with = "one_or_many")]
    pub output_padding: Vec<usize>,
    #[serde(default = "one_group")]
    pub groups: usize,
    #[serde(default = "yes")]
    pub bias: bool,
}

fn two() -> usize {
    2
}
fn one_group() -> usize {
    1
}

impl Conv {
    /// A plain convolution: `dims`-D, kernel `k`, stride `s`, padding `p`.
    pub fn new(dims: usize, out: usize, k: usize, s: usize, p: usize, bias: bool) -> Self {
        Conv {
            dims,
            transposed: false,
            out,
            kernel: vec![k],
            stride: vec![s],
            padding: vec![p],
            dilation: vec![1],
            output_padding: vec![0],
            groups: 1,
            bias,
        }
    }

    /// Per-dimension kernel, stride, padding, dilation, output padding.
    #[allow(clippy::type_complexity)]
    fn geometry(&self) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>), String> {
        let d = self.dims;
        Ok((
            per_dim(&self.kernel, d, "kernel")?,
            per_dim(&self.stride, d, "stride")?,
            per_dim(&self.padding, d, "padding")?,
            per_dim(&self.dilation, d, "dilation")?,
            per_dim(&self.output_padding, d, "output_padding")?,
        ))
    }

    /// The executor's weight shape for `cin` input channels, and the fan-in PyTorch initialises it with.
    /// Kernel axes first, then input channels, then output channels: `[k..., cin/groups, out]`, or
    /// `[k..., cin, out/groups]` when transposed (PyTorch's `[out, cin/groups, k...]` and
    /// `[cin, out/groups, k...]` with the channel axes moved last; see `exec::params`).
    pub fn weight_layout(&self, cin: usize) -> Result<(Vec<usize>, usize), String> {
        let mut shape = per_dim(&self.kernel, self.dims, "kernel")?;
        let kvol: usize = shape.iter().product();
        let g = self.groups.max(1);
        if self.transposed {
            shape.extend([cin, self.out / g]);
            Ok((shape, self.out / g * kvol))
        } else {
            shape.extend([cin / g, self.out]);
            Ok((shape, cin / g * kvol))
        }
    }

    fn weight_count(&self, cin: usize) -> u64 {
        let k = numel(&per_dim(&self.kernel, self.dims, "kernel").unwrap_or_default());
        // PyTorch stores [C_out, C_in/g, k...] (or [C_in, C_out/g, k...] when transposed): same count.
        let w = (self.out as u64) * (cin as u64 / self.groups as u64) * k;
        w + if self.bias { self.out as u64 } else { 0 }
    }
}

impl OpSpec for Conv {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        let d = self.dims;
        if x.rank() != d + 2 {
            return Err(format!("expects a rank-{} input [B, C, {}], got {}", d + 2, ["L", "H, W", "D, H, W"][d - 1], fmt_shape(&x.shape)));
        }
        let (k, s, p, dil, op) = self.geometry()?;
        let cin = x.shape[1];
        if self.groups == 0 || !cin.is_multiple_of(self.groups) || !self.out.is_multiple_of(self.groups) {
            return Err(format!("groups {} must divide input channels {cin} and output channels {}", self.groups, self.out));
        }
        if self.out == 0 || k.contains(&0) || s.contains(&0) || dil.contains(&0) {
            return Err("output channels, kernel, stride and dilation must be positive".into());
        }
        let mut shape = vec![x.shape[0], self.out];
        for i in 0..d {
            let inp = x.shape[2 + i] as i64;
            let span = (dil[i] * (k[i] - 1)) as i64;
            let o = if self.transposed {
                (inp - 1) * s[i] as i64 - 2 * p[i] as i64 + span + op[i] as i64 + 1
            } else {
                (inp + 2 * p[i] as i64 - span - 1).div_euclid(s[i] as i64) + 1
            };
            if o <= 0 || (!self.transposed && inp + 2 * (p[i] as i64) < span + 1) {
                return Err(format!(
                    "kernel {} (dilation {}) does not fit spatial size {} with padding {}",
                    k[i], dil[i], inp, p[i]
                ));
            }
            shape.push(o as usize);
        }
        Ok(TensorInfo::f32(shape))
    }

    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let x = &inputs[0];
        let (k, ..) = self.geometry().expect("checked by infer");
        let kvol = numel(&k);
        let cin = x.shape[1] as u64;
        let g = self.groups as u64;
        let cout = self.out as u64;
        let b = x.shape[0] as u64;
        let out_sp = numel(&out.shape[2..]);
        let in_sp = numel(&x.shape[2..]);
        // Multiply-accumulates: every output (forward) or every input (transposed) element touches a
        // (C/g) x kernel window.
        let macs = if self.transposed { b * cin * in_sp * (cout / g) * kvol } else { b * cout * out_sp * (cin / g) * kvol };
        let bias_adds = if self.bias { out.numel() } else { 0 };
        let params = self.weight_count(x.shape[1]);
        // Implicit GEMM per group: rows = output positions, columns = output channels, depth = window.
        let gemm = if self.transposed {
            GemmShape { batch: g, m: b * in_sp, n: (cout / g) * kvol, k: cin / g, taps: 1 }
        } else {
            GemmShape { batch: g, m: b * out_sp, n: cout / g, k: (cin / g) * kvol, taps: kvol }
        };
        OpCost {
            flops: 2 * macs + bias_adds,
            bytes_read: x.bytes() + f32_bytes(params),
            bytes_written: out.bytes(),
            params,
            gemm: Some(gemm),
            ..OpCost::of(OpClass::Conv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(dims: usize, out: usize, k: usize, s: usize, p: usize, bias: bool) -> Conv {
        Conv::new(dims, out, k, s, p, bias)
    }

    #[test]
    fn lenet_first_conv_matches_hand_count() {
        // AV-MNIST image branch, WORKLOADS.md §3.3 row 1: Conv 5x5 p2 no bias 1->6 on [40, 1, 28, 28].
        let c = conv(2, 6, 5, 1, 2, false);
        let x = TensorInfo::f32([40, 1, 28, 28]);
        let y = c.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![40, 6, 28, 28]);
        let cost = c.cost(&[x], &y);
        assert_eq!(cost.params, 150);
        // 40 * 6 * 28 * 28 outputs, each 1 * 25 MACs, 2 FLOPs per MAC.
        assert_eq!(cost.flops, 2 * 40 * 6 * 28 * 28 * 25);
        assert_eq!(cost.bytes_read, 4 * (40 * 28 * 28 + 150));
        assert_eq!(cost.bytes_written, 4 * 40 * 6 * 28 * 28);
        assert_eq!(cost.gemm, Some(GemmShape { batch: 1, m: 40 * 28 * 28, n: 6, k: 25, taps: 25 }));
    }

    #[test]
    fn strided_conv_with_bias_and_floor() {
        // Vision&Touch RGB conv 7x7 s2 p3 3->16 on 128x128: 64x64 out, 16*3*49 + 16 params.
        let c = conv(2, 16, 7, 2, 3, true);
        let x = TensorInfo::f32([2, 3, 128, 128]);
        let y = c.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![2, 16, 64, 64]);
        let cost = c.cost(&[x], &y);
        assert_eq!(cost.params, 16 * 3 * 49 + 16);
        assert_eq!(cost.flops, 2 * 2 * 16 * 64 * 64 * 3 * 49 + 2 * 16 * 64 * 64);
    }

    #[test]
    fn grouped_conv3d_and_conv1d() {
        // RegNet-style grouped 3x3: 72 channels, group width 24 -> 3 groups; 72*24*9 weights.
        let mut c = conv(2, 72, 3, 1, 1, false);
        c.groups = 3;
        let x = TensorInfo::f32([1, 72, 10, 10]);
        let y = c.infer(std::slice::from_ref(&x)).unwrap();
        let cost = c.cost(&[x], &y);
        assert_eq!(cost.params, 72 * 24 * 9);
        assert_eq!(cost.flops, 2 * 72 * 100 * 24 * 9);
        // mmFormer level-1 conv: Conv3d 3^3 1->8 with bias, 216 + 8 params.
        let c3 = conv(3, 8, 3, 1, 0, true);
        let x3 = TensorInfo::f32([1, 1, 130, 130, 130]);
        let y3 = c3.infer(std::slice::from_ref(&x3)).unwrap();
        assert_eq!(y3.shape, vec![1, 8, 128, 128, 128]);
        assert_eq!(c3.cost(&[x3], &y3).params, 8 * 27 + 8);
        // Causal conv1d k2 s2 p1 6->16 on length 32 gives 17 positions (the last is dropped afterwards).
        let c1 = conv(1, 16, 2, 2, 1, true);
        let y1 = c1.infer(&[TensorInfo::f32([4, 6, 32])]).unwrap();
        assert_eq!(y1.shape, vec![4, 16, 17]);
    }

    #[test]
    fn transposed_conv_shape_and_macs() {
        let mut c = conv(2, 8, 2, 2, 0, true);
        c.transposed = true;
        let x = TensorInfo::f32([1, 16, 7, 7]);
        let y = c.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![1, 8, 14, 14]);
        let cost = c.cost(&[x], &y);
        assert_eq!(cost.params, 16 * 8 * 4 + 8);
        assert_eq!(cost.flops, 2 * 16 * 49 * 8 * 4 + 8 * 196);
    }

    #[test]
    fn mismatches_are_explained() {
        let c = conv(2, 6, 5, 1, 0, false);
        assert!(c.infer(&[TensorInfo::f32([1, 1, 3, 3])]).unwrap_err().contains("does not fit"));
        assert!(c.infer(&[TensorInfo::f32([1, 1, 28])]).unwrap_err().contains("rank-4"));
        let mut g = conv(2, 6, 3, 1, 1, false);
        g.groups = 4;
        assert!(g.infer(&[TensorInfo::f32([1, 6, 8, 8])]).unwrap_err().contains("groups"));
    }
}
