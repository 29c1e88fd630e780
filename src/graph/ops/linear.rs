//! Dense linear algebra: `Linear` (a learned `[in, out]` weight on the last axis) and `MatMul` (a batched
//! product of two tensors with NumPy broadcasting of the batch axes, as `torch.matmul`).

use super::{f32_bytes, yes};
use crate::graph::cost::{GemmShape, OpClass, OpCost};
use crate::graph::tensor::{broadcast, expect_f32, expect_inputs, fmt_shape, numel, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// `linear`: `y = x W + b` on the last axis of `x` (`[..., in] -> [..., out]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    pub out: usize,
    #[serde(default = "yes")]
    pub bias: bool,
}

impl OpSpec for Linear {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        if x.rank() == 0 {
            return Err("needs at least one axis".into());
        }
        if self.out == 0 {
            return Err("`out` must be positive".into());
        }
        let mut shape = x.shape.clone();
        *shape.last_mut().unwrap() = self.out;
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let x = &inputs[0];
        let inp = *x.shape.last().unwrap() as u64;
        let o = self.out as u64;
        let rows = x.numel() / inp.max(1);
        let params = inp * o + if self.bias { o } else { 0 };
        OpCost {
            flops: 2 * rows * inp * o + if self.bias { rows * o } else { 0 },
            bytes_read: x.bytes() + f32_bytes(params),
            bytes_written: out.bytes(),
            params,
            gemm: Some(GemmShape { batch: 1, m: rows, n: o, k: inp, taps: 1 }),
            ..OpCost::of(OpClass::Matmul)
        }
    }
}

/// `matmul`: `a [..., m, k] x b [..., k, n] -> [..., m, n]`, batch axes broadcast. Both operands need rank >= 2
/// (reshape a vector first). `transpose_b` multiplies by `b`'s transpose (`Q K^T`); `scale` multiplies the
/// result (fused into the GEMM, as cuBLAS's alpha).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatMul {
    #[serde(default)]
    pub transpose_b: bool,
    #[serde(default = "unit")]
    pub scale: f32,
}

fn unit() -> f32 {
    1.0
}

impl Default for MatMul {
    fn default() -> Self {
        MatMul { transpose_b: false, scale: 1.0 }
    }
}

impl MatMul {
    /// (batch shape, m, k, n) of the product.
    pub fn dims(&self, a: &[usize], b: &[usize]) -> Result<(Vec<usize>, usize, usize, usize), String> {
        if a.len() < 2 || b.len() < 2 {
            return Err(format!("needs operands of rank >= 2, got {} and {}", fmt_shape(a), fmt_shape(b)));
        }
        let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
        let (kb, n) = if self.transpose_b { (b[b.len() - 1], b[b.len() - 2]) } else { (b[b.len() - 2], b[b.len() - 1]) };
        if k != kb {
            return Err(format!(
                "inner dimensions differ: {} x {}{} ({k} vs {kb})",
                fmt_shape(a),
                fmt_shape(b),
                if self.transpose_b { "^T" } else { "" }
            ));
        }
        let batch = broadcast(&a[..a.len() - 2], &b[..b.len() - 2])?;
        Ok((batch, m, k, n))
    }
}

impl OpSpec for MatMul {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 2)?;
        expect_f32(&inputs[0], "the first operand")?;
        expect_f32(&inputs[1], "the second operand")?;
        let (mut batch, m, _, n) = self.dims(&inputs[0].shape, &inputs[1].shape)?;
        batch.extend([m, n]);
        Ok(TensorInfo::f32(batch))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let (batch, m, k, n) = self.dims(&inputs[0].shape, &inputs[1].shape).expect("checked by infer");
        let bt = numel(&batch);
        OpCost {
            flops: 2 * bt * (m * k * n) as u64,
            bytes_read: inputs[0].bytes() + inputs[1].bytes(),
            bytes_written: out.bytes(),
            gemm: Some(GemmShape { batch: bt, m: m as u64, n: n as u64, k: k as u64, taps: 1 }),
            ..OpCost::of(OpClass::Matmul)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_counts_weights_bias_and_macs() {
        // AV-MNIST head Linear 240 -> 100 on [40, 240]: 24,100 params.
        let l = Linear { out: 100, bias: true };
        let x = TensorInfo::f32([40, 240]);
        let y = l.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![40, 100]);
        let c = l.cost(&[x], &y);
        assert_eq!(c.params, 24_100);
        assert_eq!(c.flops, 2 * 40 * 240 * 100 + 40 * 100);
        assert_eq!(c.bytes_read, 4 * (40 * 240 + 24_100));
        assert_eq!(c.gemm, Some(GemmShape { batch: 1, m: 40, n: 100, k: 240, taps: 1 }));
        // On a sequence the leading axes are rows.
        let s = TensorInfo::f32([2, 15, 768]);
        let l2 = Linear { out: 3072, bias: false };
        let y2 = l2.infer(std::slice::from_ref(&s)).unwrap();
        assert_eq!(l2.cost(&[s], &y2).flops, 2 * 30 * 768 * 3072);
    }

    #[test]
    fn matmul_broadcasts_and_transposes() {
        // Attention scores: [B, h, L, d] x [B, h, L, d]^T -> [B, h, L, L].
        let mm = MatMul { transpose_b: true, scale: 0.125 };
        let q = TensorInfo::f32([2, 12, 15, 64]);
        let y = mm.infer(&[q.clone(), q.clone()]).unwrap();
        assert_eq!(y.shape, vec![2, 12, 15, 15]);
        assert_eq!(mm.cost(&[q.clone(), q], &y).flops, 2 * 24 * 15 * 64 * 15);
        // LRTF: [B, d+1] x [r, d+1, o] -> [r, B, o].
        let y = MatMul::default().infer(&[TensorInfo::f32([1, 64, 257]), TensorInfo::f32([40, 257, 200])]).unwrap();
        assert_eq!(y.shape, vec![40, 64, 200]);
        let err = MatMul::default().infer(&[TensorInfo::f32([2, 3]), TensorInfo::f32([4, 5])]).unwrap_err();
        assert!(err.contains("inner dimensions"), "{err}");
    }
}
