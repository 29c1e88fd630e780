//! Binary elementwise ops with broadcasting (residual adds, masks, gating, Hadamard products) and the outer
//! product of tensor fusion.

use super::yes;
use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{broadcast, expect_f32, expect_inputs, fmt_shape, DType, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

impl BinaryKind {
    pub fn name(self) -> &'static str {
        match self {
            BinaryKind::Add => "add",
            BinaryKind::Sub => "sub",
            BinaryKind::Mul => "mul",
            BinaryKind::Div => "div",
            BinaryKind::Maximum => "maximum",
            BinaryKind::Minimum => "minimum",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "add" => BinaryKind::Add,
            "sub" => BinaryKind::Sub,
            "mul" => BinaryKind::Mul,
            "div" => BinaryKind::Div,
            "maximum" => BinaryKind::Maximum,
            "minimum" => BinaryKind::Minimum,
            _ => return None,
        })
    }
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Maximum => a.max(b),
            BinaryKind::Minimum => a.min(b),
        }
    }
}

/// `add`, `sub`, `mul`, `div`, `maximum`, `minimum` of two inputs, NumPy broadcasting. As in PyTorch, an
/// int64 operand (class ids a loss reads against float scores) is promoted and the result is f32; integer
/// arithmetic on two int64 operands is not modelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binary {
    pub kind: BinaryKind,
}

impl OpSpec for Binary {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 2)?;
        if inputs[0].dtype != DType::F32 && inputs[1].dtype != DType::F32 {
            expect_f32(&inputs[0], "one operand")?;
        }
        Ok(TensorInfo::f32(broadcast(&inputs[0].shape, &inputs[1].shape)?))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            flops: out.numel(),
            bytes_read: inputs[0].bytes() + inputs[1].bytes(),
            bytes_written: out.bytes(),
            broadcast: inputs.iter().any(|x| x.shape != out.shape),
            ..OpCost::of(OpClass::Elementwise)
        }
    }
}

/// `outer_product`: `a [..., m]` and `b [..., n]` with equal leading axes give the flattened outer product
/// `[..., m' n']`, where each vector is first extended by a constant 1 unless told otherwise (tensor fusion
/// extends every modality once: `[1, x1] x [1, x2]`, then that product `x [1, x3]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuterProduct {
    #[serde(default = "yes")]
    pub prepend_one_a: bool,
    #[serde(default = "yes")]
    pub prepend_one_b: bool,
}

impl OpSpec for OuterProduct {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 2)?;
        let (a, b) = (&inputs[0], &inputs[1]);
        expect_f32(a, "the first operand")?;
        expect_f32(b, "the second operand")?;
        if a.rank() == 0 || a.rank() != b.rank() || a.shape[..a.rank() - 1] != b.shape[..b.rank() - 1] {
            return Err(format!("needs equal leading axes, got {} and {}", fmt_shape(&a.shape), fmt_shape(&b.shape)));
        }
        let (ea, eb) = (usize::from(self.prepend_one_a), usize::from(self.prepend_one_b));
        let mut shape = a.shape[..a.rank() - 1].to_vec();
        shape.push((a.shape[a.rank() - 1] + ea) * (b.shape[b.rank() - 1] + eb));
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            flops: out.numel(),
            bytes_read: inputs[0].bytes() + inputs[1].bytes(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Elementwise)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_broadcasts_and_counts_one_flop_per_output() {
        // Medical VQA mask multiply: [2, 3, 448, 448] x [2, 1, 448, 448].
        let m = Binary { kind: BinaryKind::Mul };
        let a = TensorInfo::f32([2, 3, 448, 448]);
        let b = TensorInfo::f32([2, 1, 448, 448]);
        let y = m.infer(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(y.shape, vec![2, 3, 448, 448]);
        let c = m.cost(&[a.clone(), b], &y);
        assert_eq!(c.flops, 2 * 3 * 448 * 448);
        assert_eq!(c.bytes_read, 4 * (2 * 3 * 448 * 448 + 2 * 448 * 448));
        // The mask broadcasts over the channels; a same-shape product does not.
        assert!(c.broadcast);
        assert!(!m.cost(&[a.clone(), a.clone()], &a).broadcast);
    }

    #[test]
    fn an_int64_operand_is_promoted_and_its_bytes_counted() {
        // A cross-entropy reading int64 class ids [B, 1, H, W] against float scores [B, C, H, W].
        let m = Binary { kind: BinaryKind::Mul };
        let scores = TensorInfo::f32([10, 7, 160, 704]);
        let ids = TensorInfo::new([10, 1, 160, 704], DType::I64);
        let y = m.infer(&[scores.clone(), ids.clone()]).unwrap();
        assert_eq!(y, TensorInfo::f32([10, 7, 160, 704]));
        assert_eq!(m.cost(&[scores, ids.clone()], &y).bytes_read, 4 * 10 * 7 * 160 * 704 + 8 * 10 * 160 * 704);
        assert!(m.infer(&[ids.clone(), ids]).unwrap_err().contains("f32"));
    }

    #[test]
    fn tensor_fusion_outer_product_size() {
        // MuJoCo Push `tf`: 8 and 8 -> 81 per step, then with 64 -> 81 * 65.
        let o = OuterProduct { prepend_one_a: true, prepend_one_b: true };
        let y = o.infer(&[TensorInfo::f32([1, 16, 8]), TensorInfo::f32([1, 16, 8])]).unwrap();
        assert_eq!(y.shape, vec![1, 16, 81]);
        let o2 = OuterProduct { prepend_one_a: false, prepend_one_b: true };
        let z = o2.infer(&[y, TensorInfo::f32([1, 16, 64])]).unwrap();
        assert_eq!(z.shape, vec![1, 16, 81 * 65]);
        assert!(o.infer(&[TensorInfo::f32([2, 8]), TensorInfo::f32([3, 8])]).is_err());
    }
}
