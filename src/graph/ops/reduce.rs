//! Reductions over axes: mean, sum, max (global average pooling, LeNet's discarded side outputs, mean over
//! frames, MaxOut's pairwise max).

use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, norm_axis, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceKind {
    Mean,
    Sum,
    Max,
}

impl ReduceKind {
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Mean => "mean",
            ReduceKind::Sum => "sum",
            ReduceKind::Max => "max",
        }
    }
}

/// `mean`, `sum`, `max` over `axes` (negative allowed), dropping them unless `keepdim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reduce {
    #[serde(skip, default = "mean")]
    pub kind: ReduceKind,
    pub axes: Vec<i64>,
    #[serde(default)]
    pub keepdim: bool,
}

fn mean() -> ReduceKind {
    ReduceKind::Mean
}

impl Reduce {
    /// The resolved, sorted, distinct axes.
    pub fn resolved_axes(&self, rank: usize) -> Result<Vec<usize>, String> {
        let mut axes = self.axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
        axes.sort_unstable();
        axes.dedup();
        if axes.is_empty() {
            return Err("`axes` is empty".into());
        }
        Ok(axes)
    }
}

impl OpSpec for Reduce {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        let axes = self.resolved_axes(x.rank())?;
        let shape: Vec<usize> = x
            .shape
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| if axes.contains(&i) { self.keepdim.then_some(1) } else { Some(d) })
            .collect();
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let div = if self.kind == ReduceKind::Mean { out.numel() } else { 0 };
        OpCost {
            flops: inputs[0].numel() + div,
            bytes_read: inputs[0].bytes(),
            bytes_written: out.bytes(),
            fold: Some(inputs[0].numel() / out.numel().max(1)),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_average_pool_as_mean() {
        let r = Reduce { kind: ReduceKind::Mean, axes: vec![2, 3], keepdim: false };
        let x = TensorInfo::f32([40, 6, 14, 14]);
        let y = r.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![40, 6]);
        assert_eq!(r.cost(std::slice::from_ref(&x), &y).flops, 40 * 6 * 196 + 40 * 6);
        // Each of the 240 outputs folds one 14 x 14 map.
        assert_eq!(r.cost(&[x], &y).fold, Some(196));
        let k = Reduce { kind: ReduceKind::Max, axes: vec![-1], keepdim: true };
        assert_eq!(k.infer(&[TensorInfo::f32([1, 512, 2])]).unwrap().shape, vec![1, 512, 1]);
        assert!(Reduce { kind: ReduceKind::Sum, axes: vec![], keepdim: false }.infer(&[TensorInfo::f32([2])]).is_err());
    }
}
