//! Normalizations at inference: BatchNorm (a per-channel scale and shift from running statistics),
//! LayerNorm and InstanceNorm (real reductions over each sample).

use super::{f32_bytes, yes};
use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, fmt_shape, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// FLOPs per element to compute mean and variance and normalize: mean 1, variance 3 (sub, square, add),
/// normalize 2 (sub, multiply by the reciprocal standard deviation).
pub const NORMALIZE_FLOPS_PER_ELEMENT: u64 = 6;
/// FLOPs per element of an affine transform (multiply, add).
pub const AFFINE_FLOPS_PER_ELEMENT: u64 = 2;

/// BatchNorm over axis 1 (`[B, C]`, `[B, C, L]`, `[B, C, H, W]`, ...): `y = x * scale[c] + shift[c]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {}

impl OpSpec for BatchNorm {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        expect_f32(&inputs[0], "the input")?;
        if inputs[0].rank() < 2 {
            return Err(format!("needs a channel axis (rank >= 2), got {}", fmt_shape(&inputs[0].shape)));
        }
        Ok(inputs[0].clone())
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let c = inputs[0].shape[1] as u64;
        OpCost {
            flops: AFFINE_FLOPS_PER_ELEMENT * out.numel(),
            // weight, bias, running mean, running variance.
            bytes_read: inputs[0].bytes() + f32_bytes(4 * c),
            bytes_written: out.bytes(),
            params: 2 * c,
            ..OpCost::of(OpClass::Elementwise)
        }
    }
}

/// LayerNorm over the last `dims` axes (1 by default), with an elementwise affine transform unless
/// `affine: false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNorm {
    #[serde(default = "one_dim")]
    pub dims: usize,
    #[serde(default = "yes")]
    pub affine: bool,
}

fn one_dim() -> usize {
    1
}

impl Default for LayerNorm {
    fn default() -> Self {
        LayerNorm { dims: 1, affine: true }
    }
}

impl OpSpec for LayerNorm {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        expect_f32(&inputs[0], "the input")?;
        if self.dims == 0 || inputs[0].rank() < self.dims {
            return Err(format!("cannot normalize the last {} axes of {}", self.dims, fmt_shape(&inputs[0].shape)));
        }
        Ok(inputs[0].clone())
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let x = &inputs[0];
        let width: u64 = x.shape[x.rank() - self.dims..].iter().map(|&d| d as u64).product();
        let params = if self.affine { 2 * width } else { 0 };
        let per = NORMALIZE_FLOPS_PER_ELEMENT + if self.affine { AFFINE_FLOPS_PER_ELEMENT } else { 0 };
        OpCost {
            flops: per * out.numel(),
            bytes_read: x.bytes() + f32_bytes(params),
            bytes_written: out.bytes(),
            params,
            fold: Some(width),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

/// InstanceNorm: statistics per sample and channel over the spatial axes (`[B, C, *spatial]`). mmFormer uses
/// it without affine parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceNorm {
    #[serde(default)]
    pub affine: bool,
}

impl OpSpec for InstanceNorm {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        expect_f32(&inputs[0], "the input")?;
        if inputs[0].rank() < 3 {
            return Err(format!("needs [B, C, *spatial], got {}", fmt_shape(&inputs[0].shape)));
        }
        Ok(inputs[0].clone())
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let c = inputs[0].shape[1] as u64;
        let params = if self.affine { 2 * c } else { 0 };
        let per = NORMALIZE_FLOPS_PER_ELEMENT + if self.affine { AFFINE_FLOPS_PER_ELEMENT } else { 0 };
        OpCost {
            flops: per * out.numel(),
            bytes_read: inputs[0].bytes() + f32_bytes(params),
            bytes_written: out.bytes(),
            params,
            // One instance is a channel of one batch element.
            fold: Some(out.numel() / (out.shape[0] * out.shape[1]).max(1) as u64),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batchnorm_counts_two_params_per_channel() {
        let x = TensorInfo::f32([40, 6, 28, 28]);
        let y = BatchNorm::default().infer(std::slice::from_ref(&x)).unwrap();
        let c = BatchNorm::default().cost(&[x], &y);
        assert_eq!(c.params, 12);
        assert_eq!(c.flops, 2 * 40 * 6 * 28 * 28);
        assert_eq!(c.bytes_read, 4 * (40 * 6 * 28 * 28 + 24));
        // Inference batch norm folds nothing: a per-channel affine map.
        assert_eq!(c.fold, None);
    }

    #[test]
    fn layernorm_and_instancenorm() {
        // BERT LayerNorm(768) on [1, 15, 768]: 1536 params, 8 FLOPs per element.
        let x = TensorInfo::f32([1, 15, 768]);
        let ln = LayerNorm::default();
        let y = ln.infer(std::slice::from_ref(&x)).unwrap();
        let c = ln.cost(&[x], &y);
        assert_eq!(c.params, 1536);
        assert_eq!(c.flops, 8 * 15 * 768);
        // Each of the 15 rows normalizes 768 values.
        assert_eq!(c.fold, Some(768));
        // mmFormer InstanceNorm3d without affine: no params, 6 FLOPs per element.
        let v = TensorInfo::f32([1, 8, 4, 4, 4]);
        let c = InstanceNorm::default().cost(std::slice::from_ref(&v), &v);
        assert_eq!(c.params, 0);
        assert_eq!(c.flops, 6 * 8 * 64);
        // Each of the 8 channels is an instance of 4 x 4 x 4 values.
        assert_eq!(c.fold, Some(64));
        assert!(InstanceNorm::default().infer(&[TensorInfo::f32([2, 3])]).is_err());
    }
}
