//! Units shared by the convolutional backbones (ResNet, R3D, RegNetY): a convolution followed by its
//! inference BatchNorm and an optional ReLU, and the residual join. Eager PyTorch runs each of these as its own
//! kernel (cuDNN does not fuse BatchNorm or the residual add into the convolution in eval mode), so each is its
//! own node.

use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Conv};
use petgraph::graph::NodeIndex;

/// `name/conv` → `name/bn` → (`name/relu` when `relu`): torchvision's `conv + bn (+ relu)` and timm's
/// `ConvNormAct`. The convolution should have no bias (BatchNorm's shift replaces it).
pub(crate) fn conv_bn(b: &mut GraphBuilder, name: &str, x: NodeIndex, conv: Conv, relu: bool) -> BuildResult<NodeIndex> {
    b.scope(name, |b| {
        let c = b.add("conv", Op::Conv(conv), &[x])?;
        let n = b.batch_norm("bn", c)?;
        if relu { b.relu("relu", n) } else { Ok(n) }
    })
}

/// The end of a residual block: `relu(x + shortcut)`, an add kernel then a ReLU kernel.
pub(crate) fn residual_relu(b: &mut GraphBuilder, x: NodeIndex, shortcut: NodeIndex) -> BuildResult<NodeIndex> {
    let sum = b.binary("add", BinaryKind::Add, x, shortcut)?;
    b.relu("relu", sum)
}

/// The shortcut of a residual block: the input itself, or a strided 1x1 projection + BatchNorm
/// (`downsample`) when the block changes the resolution or the width.
pub(crate) fn shortcut(b: &mut GraphBuilder, x: NodeIndex, dims: usize, out: usize, stride: usize) -> BuildResult<NodeIndex> {
    if stride == 1 && b.shape(x)[1] == out {
        return Ok(x);
    }
    conv_bn(b, "downsample", x, Conv::new(dims, out, 1, stride, 0, false), false)
}

/// The classification head: a global average pool named `avgpool` (ATen runs a 1x1 adaptive average pool as a
/// mean kernel) giving `[B, C]`, then, when `classes` is given, the FC named `fc`.
pub(crate) fn pool_and_classify(b: &mut GraphBuilder, x: NodeIndex, classes: Option<usize>) -> BuildResult<NodeIndex> {
    let pooled = b.global_avg_pool("avgpool", x)?;
    match classes {
        Some(c) => b.linear("fc", pooled, c, true),
        None => Ok(pooled),
    }
}
