//! Building blocks of the robotics workloads (MuJoCo Push, Vision & Touch; WORKLOADS.md §2, §9, §10):
//! fannypack's residual blocks and the causal 1-D convolution of the force encoder.

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Conv, UnaryFn};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// `res_linear`: Linear u→u → ReLU → Linear u→u → add the input → ReLU (fannypack `resblocks.Linear`).
/// Parameters `2 (u^2 + u)`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResLinear {}

impl Block for ResLinear {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "res_linear")?;
        let u = *b.shape(x).last().expect("rank >= 1");
        let h = b.linear("fc1", x, u, true)?;
        let h = b.relu("relu1", h)?;
        let h = b.linear("fc2", h, u, true)?;
        let s = b.binary("residual", BinaryKind::Add, h, x)?;
        b.relu("relu2", s)
    }
}

/// `res_conv2d: {kernel: 3}`: Conv k×k (padding k/2) c→c → ReLU → Conv → add the input → ReLU (fannypack
/// `resblocks.Conv2d`). Parameters `2 (c^2 k^2 + c)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResConv2d {
    #[serde(default = "three")]
    pub kernel: usize,
}

fn three() -> usize {
    3
}

impl Block for ResConv2d {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "res_conv2d")?;
        let s = b.shape(x);
        if s.len() != 4 {
            return Err(b.error("res_conv2d", format!("expects [B, C, H, W], got {}", fmt_shape(s))));
        }
        let (c, k) = (s[1], self.kernel);
        let h = b.conv("conv1", x, 2, c, k, 1, k / 2, true)?;
        let h = b.relu("relu1", h)?;
        let h = b.conv("conv2", h, 2, c, k, 1, k / 2, true)?;
        let s = b.binary("residual", BinaryKind::Add, h, x)?;
        b.relu("relu2", s)
    }
}

/// `causal_conv1d: {out: 16, kernel: 2, stride: 2}`: Conv1d with padding `k-1` on both sides and bias, then
/// the last `k-1` positions dropped (a strided copy, since cuDNN needs a contiguous input next), then
/// LeakyReLU(0.1) as the Vision & Touch force encoder applies after each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CausalConv1d {
    pub out: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    /// Slope of the LeakyReLU that follows (none when absent).
    #[serde(default = "slope")]
    pub leaky_relu: Option<f32>,
}

fn one() -> usize {
    1
}
fn slope() -> Option<f32> {
    Some(0.1)
}

impl Block for CausalConv1d {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "causal_conv1d")?;
        if self.kernel == 0 {
            return Err(b.error("causal_conv1d", "kernel must be positive"));
        }
        let pad = self.kernel - 1;
        let c = b.add("conv", Op::Conv(Conv::new(1, self.out, self.kernel, self.stride, pad, true)), &[x])?;
        let y = if pad > 0 {
            let len = b.shape(c)[2] as i64;
            b.slice("drop_tail", c, 2, 0, Some(len - pad as i64))?
        } else {
            c
        };
        match self.leaky_relu {
            Some(s) => b.unary("leaky_relu", UnaryFn::LeakyRelu { slope: s }, y),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::DType;

    #[test]
    fn residual_blocks_count_two_layers() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[16, 1, 64], DType::F32).unwrap();
        let y = b.scope("res", |b| ResLinear {}.build(b, &[x])).unwrap();
        assert_eq!(b.shape(y), &[16, 1, 64]);
        let i = b.input("i", &[16, 32, 32, 32], DType::F32).unwrap();
        let z = b.scope("resconv", |b| ResConv2d { kernel: 3 }.build(b, &[i])).unwrap();
        assert_eq!(b.shape(z), &[16, 32, 32, 32]);
        // WORKLOADS.md §2: 2 (u^2 + u) = 8,320 and 2 (c^2 k^2 + c) = 18,496.
        assert_eq!(b.finish("t", "", vec![]).params(), 8_320 + 18_496);
    }

    #[test]
    fn causal_conv_halves_the_length() {
        // Vision & Touch force encoder: k 2, s 2, 6 -> 16 channels, length 32 -> 16 (WORKLOADS.md §10.3).
        let mut b = GraphBuilder::new(64);
        let x = b.input("x", &[64, 6, 32], DType::F32).unwrap();
        let c = CausalConv1d { out: 16, kernel: 2, stride: 2, leaky_relu: Some(0.1) };
        let y = b.scope("cc", |b| c.build(b, &[x])).unwrap();
        assert_eq!(b.shape(y), &[64, 16, 16]);
        assert_eq!(b.finish("t", "", vec![]).params(), 6 * 16 * 2 + 16);
    }
}
