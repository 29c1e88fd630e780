//! Squeeze-and-excitation gating (timm `SEModule`, used by RegNetY): a per-channel mean (kept as
//! `[B, C, 1, 1]`), a 1x1 conv down to the reduced width with bias, ReLU, a 1x1 conv back up with bias, a
//! sigmoid, and the broadcast multiply of the input by the gate: six kernels in eager PyTorch.
//!
//! `squeeze_excite: {reduced: 18}` or `{ratio: 0.25}` (reduced = round(ratio x input channels)). RegNetY sizes
//! the reduction from the width of the block's input, not of the tensor it gates, so it passes `reduced`.

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Conv, ReduceKind, UnaryFn};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqueezeExcite {
    /// Reduced width as a fraction of the input channels (default 0.25).
    #[serde(default)]
    pub ratio: Option<f64>,
    /// Reduced width in channels (instead of `ratio`).
    #[serde(default)]
    pub reduced: Option<usize>,
}

/// Gates `x` (`[B, C, *spatial]`) channel by channel through a bottleneck of `reduced` channels.
pub fn squeeze_excite(b: &mut GraphBuilder, x: NodeIndex, reduced: usize) -> BuildResult<NodeIndex> {
    let shape = b.shape(x).to_vec();
    if shape.len() < 3 {
        return Err(b.error("squeeze_excite", format!("expects [B, C, *spatial], got {}", fmt_shape(&shape))));
    }
    if reduced == 0 {
        return Err(b.error("squeeze_excite", "the reduced width must be positive"));
    }
    let dims = shape.len() - 2;
    let axes: Vec<i64> = (2..shape.len() as i64).collect();
    let squeezed = b.reduce("mean", ReduceKind::Mean, x, &axes, true)?;
    let fc1 = b.add("fc1", Op::Conv(Conv::new(dims, reduced, 1, 1, 0, true)), &[squeezed])?;
    let act = b.relu("relu", fc1)?;
    let fc2 = b.add("fc2", Op::Conv(Conv::new(dims, shape[1], 1, 1, 0, true)), &[act])?;
    let gate = b.unary("sigmoid", UnaryFn::Sigmoid, fc2)?;
    b.binary("gate", BinaryKind::Mul, x, gate)
}

impl Block for SqueezeExcite {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "squeeze_excite")?;
        let channels = b.shape(x).get(1).copied().unwrap_or(0);
        let reduced = match (self.reduced, self.ratio) {
            (Some(_), Some(_)) => return Err(b.error("squeeze_excite", "give `reduced` or `ratio`, not both")),
            (Some(r), None) => r,
            (None, ratio) => (channels as f64 * ratio.unwrap_or(0.25)).round() as usize,
        };
        squeeze_excite(b, x, reduced)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::build_f32;

    #[test]
    fn squeeze_excite_counts_two_biased_1x1_convs() {
        // RegNetY-032 stage 1, block 2: 72 channels gated through 18 (0.25 x 72): 72*18 + 18 + 18*72 + 72.
        let (w, out) = build_f32("squeeze_excite", "{ratio: 0.25}", &[2, 72, 40, 176]);
        assert_eq!(out, vec![2, 72, 40, 176]);
        assert_eq!(w.params(), 72 * 18 + 18 + 18 * 72 + 72);
        // mean, conv, ReLU, conv, sigmoid, multiply.
        assert_eq!(w.kernels(), 6);
        // Mean: one add per input element + one divide per channel; convs 2 per MAC + bias; ReLU and sigmoid
        // (4) on the tiny vectors; the gate 1 per element.
        let (n, c, r) = (2 * 72 * 40 * 176u64, 2 * 72u64, 2 * 18u64);
        assert_eq!(w.flops(), (n + c) + (2 * c * 18 + r) + r + (2 * r * 72 + c) + 4 * c + n);
    }

    #[test]
    fn reduced_width_can_be_given_directly() {
        // The first RegNetY block of stage 1 gates 72 channels through round(0.25 x 32) = 8.
        let (w, _) = build_f32("squeeze_excite", "{reduced: 8}", &[1, 72, 8, 8]);
        assert_eq!(w.params(), 72 * 8 + 8 + 8 * 72 + 72);
    }
}
