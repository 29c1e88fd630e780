//! Softmax along one axis (attention weights, glimpse maps, class maps).

use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, norm_axis, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// FLOPs per element: running max (compare), subtract, exp, sum, divide.
pub const SOFTMAX_FLOPS_PER_ELEMENT: u64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Softmax {
    #[serde(default = "last")]
    pub axis: i64,
}

fn last() -> i64 {
    -1
}

impl Default for Softmax {
    fn default() -> Self {
        Softmax { axis: -1 }
    }
}

impl OpSpec for Softmax {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        expect_f32(&inputs[0], "the input")?;
        norm_axis(self.axis, inputs[0].rank())?;
        Ok(inputs[0].clone())
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            flops: SOFTMAX_FLOPS_PER_ELEMENT * out.numel(),
            bytes_read: inputs[0].bytes(),
            bytes_written: out.bytes(),
            fold: norm_axis(self.axis, out.rank()).ok().map(|a| out.shape[a] as u64),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_costs_five_flops_per_element() {
        let x = TensorInfo::f32([2, 2, 196]);
        let c = Softmax::default().cost(std::slice::from_ref(&x), &x);
        assert_eq!(c.flops, 5 * 784);
        assert_eq!(c.fold, Some(196));
        assert!(Softmax { axis: 3 }.infer(&[x]).is_err());
    }
}
