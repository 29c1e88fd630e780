//! torchvision's ResNets: ResNet-18/34 (basic blocks) and ResNet-50/101/152 (bottlenecks with the stride on
//! the 3x3 convolution, "ResNet v1.5"). Stem: conv 7x7 s2 → BN → ReLU → max-pool 3x3 s2 p1; four stages of
//! 64/128/256/512 planes; global average pool (ATen runs a 1x1 adaptive pool as a mean) and FC. Ops follow the
//! order eager PyTorch issues them: a block's main path, then its downsample projection, then the add and the
//! ReLU as separate kernels. Sarcasm stops at pool5, Medical VQA at the layer4 map (WORKLOADS.md §6.3, §7.3).
//!
//! `resnet: {depth: 152, output: pool5}`. The stages are dimension-agnostic, so the video R3D-18 reuses them.

use super::cnn::{conv_bn, pool_and_classify, residual_relu, shortcut};
use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{Conv, Pool, PoolKind};
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// Where a ResNet stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResNetOutput {
    Layer1,
    Layer2,
    Layer3,
    /// The last feature map, e.g. `[B, 2048, 14, 14]` for ResNet-152 at 448x448.
    Layer4,
    /// The global average of layer4, `[B, 2048]` (or `[B, 512]` for basic blocks): the FC replaced by identity.
    Pool5,
    #[default]
    Logits,
}

impl ResNetOutput {
    /// The stage (1-based) this output ends at, if it is a stage map.
    fn stage(self) -> Option<usize> {
        match self {
            ResNetOutput::Layer1 => Some(1),
            ResNetOutput::Layer2 => Some(2),
            ResNetOutput::Layer3 => Some(3),
            ResNetOutput::Layer4 => Some(4),
            ResNetOutput::Pool5 | ResNetOutput::Logits => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNet {
    /// 18, 34, 50, 101 or 152.
    pub depth: usize,
    #[serde(default)]
    pub output: ResNetOutput,
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn imagenet_classes() -> usize {
    1000
}

/// The residual unit of a ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResidualUnit {
    /// Two 3x3 convolutions, output width = planes.
    Basic,
    /// 1x1 → 3x3 (strided) → 1x1, output width = 4 x planes.
    Bottleneck,
}

/// Residual unit and blocks per stage of each torchvision depth.
fn layout(depth: usize) -> Option<(ResidualUnit, [usize; 4])> {
    Some(match depth {
        18 => (ResidualUnit::Basic, [2, 2, 2, 2]),
        34 => (ResidualUnit::Basic, [3, 4, 6, 3]),
        50 => (ResidualUnit::Bottleneck, [3, 4, 6, 3]),
        101 => (ResidualUnit::Bottleneck, [3, 4, 23, 3]),
        152 => (ResidualUnit::Bottleneck, [3, 8, 36, 3]),
        _ => return None,
    })
}

/// torchvision `BasicBlock` (and video `BasicBlock` with `Conv3DSimple` when `dims` is 3).
fn basic_block(b: &mut GraphBuilder, x: NodeIndex, dims: usize, planes: usize, stride: usize) -> BuildResult<NodeIndex> {
    let c1 = conv_bn(b, "conv1", x, Conv::new(dims, planes, 3, stride, 1, false), true)?;
    let c2 = conv_bn(b, "conv2", c1, Conv::new(dims, planes, 3, 1, 1, false), false)?;
    let s = shortcut(b, x, dims, planes, stride)?;
    residual_relu(b, c2, s)
}

/// torchvision `Bottleneck` (v1.5: the stride sits on the 3x3 convolution).
fn bottleneck(b: &mut GraphBuilder, x: NodeIndex, dims: usize, planes: usize, stride: usize) -> BuildResult<NodeIndex> {
    let c1 = conv_bn(b, "conv1", x, Conv::new(dims, planes, 1, 1, 0, false), true)?;
    let c2 = conv_bn(b, "conv2", c1, Conv::new(dims, planes, 3, stride, 1, false), true)?;
    let c3 = conv_bn(b, "conv3", c2, Conv::new(dims, 4 * planes, 1, 1, 0, false), false)?;
    let s = shortcut(b, x, dims, 4 * planes, stride)?;
    residual_relu(b, c3, s)
}

/// The four residual stages (`layer1`..`layer4`, planes 64·2^i, stride 2 from layer2 on) and the head, from a
/// stem output. Shared by the 2-D ResNets and the 3-D R3D-18.
pub(crate) fn residual_stages(
    b: &mut GraphBuilder,
    x: NodeIndex,
    dims: usize,
    unit: ResidualUnit,
    blocks: [usize; 4],
    output: ResNetOutput,
    classes: usize,
) -> BuildResult<NodeIndex> {
    let mut x = x;
    for (i, &n) in blocks.iter().enumerate() {
        let planes = 64 << i;
        let first_stride = if i == 0 { 1 } else { 2 };
        x = b.scope(&format!("layer{}", i + 1), |b| {
            let mut x = x;
            for j in 0..n {
                let stride = if j == 0 { first_stride } else { 1 };
                x = b.scope(&format!("block{j}"), |b| match unit {
                    ResidualUnit::Basic => basic_block(b, x, dims, planes, stride),
                    ResidualUnit::Bottleneck => bottleneck(b, x, dims, planes, stride),
                })?;
            }
            Ok(x)
        })?;
        if output.stage() == Some(i + 1) {
            return Ok(x);
        }
    }
    pool_and_classify(b, x, (output == ResNetOutput::Logits).then_some(classes))
}

impl Block for ResNet {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "resnet")?;
        let (unit, blocks) =
            layout(self.depth).ok_or_else(|| b.error("resnet", format!("no ResNet of depth {} (18, 34, 50, 101, 152)", self.depth)))?;
        let stem = conv_bn(b, "conv1", x, Conv::new(2, 64, 7, 2, 3, false), true)?;
        let pool = Pool { padding: vec![1], ..Pool::new(PoolKind::Max, 2, 3, 2) };
        let stem = b.add("maxpool", Op::Pool(pool), &[stem])?;
        residual_stages(b, stem, 2, unit, blocks, self.output, self.classes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build_error, build_f32, expect_f32, macs, round_to};
    use crate::graph::DType;

    /// torchvision's registered parameters: `ResNet*_Weights.IMAGENET1K_V1.meta["num_params"]`; WORKLOADS.md §14.
    #[test]
    fn resnet152_has_60_192_808_parameters() {
        expect_f32("resnet", "{depth: 152}", &[1, 3, 224, 224], &[1, 1000], 60_192_808);
    }

    #[test]
    fn resnet152_without_fc_has_58_143_808_parameters() {
        // Sarcasm replaces the FC by identity (WORKLOADS.md §6.3); the FC is 2048 x 1000 + 1000 = 2,049,000.
        expect_f32("resnet", "{depth: 152, output: pool5}", &[32, 3, 224, 224], &[32, 2048], 58_143_808);
    }

    #[test]
    fn resnet18_and_34_parameters() {
        expect_f32("resnet", "{depth: 18}", &[1, 3, 224, 224], &[1, 1000], 11_689_512);
        expect_f32("resnet", "{depth: 34}", &[1, 3, 224, 224], &[1, 1000], 21_797_672);
        // torchvision `ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]` = 25557032.
        expect_f32("resnet", "{depth: 50}", &[1, 3, 224, 224], &[1, 1000], 25_557_032);
    }

    #[test]
    fn resnet152_stage_shapes_at_224_and_448() {
        for (side, layer4) in [(224, 7), (448, 14)] {
            let input = [2, 3, side, side];
            for (output, want) in [
                ("layer1", vec![2, 256, side / 4, side / 4]),
                ("layer2", vec![2, 512, side / 8, side / 8]),
                ("layer3", vec![2, 1024, side / 16, side / 16]),
                ("layer4", vec![2, 2048, layer4, layer4]),
                ("pool5", vec![2, 2048]),
            ] {
                let (_, out) = build_f32("resnet", &format!("{{depth: 152, output: {output}}}"), &input);
                assert_eq!(out, want, "{output} at {side}");
            }
        }
        // Medical VQA: layer4 at 448x448 keeps the 58,143,808 active parameters (WORKLOADS.md §7.3).
        expect_f32("resnet", "{depth: 152, output: layer4}", &[2, 3, 448, 448], &[2, 2048, 14, 14], 58_143_808);
    }

    #[test]
    fn resnet18_launches_one_kernel_per_eager_op() {
        // Stem: conv, BN, ReLU, max-pool. 8 basic blocks of conv, BN, ReLU, conv, BN, add, ReLU; three of them
        // (first of layer2..4) also run the downsample conv and BN. Head: mean, FC.
        let (w, _) = build_f32("resnet", "{depth: 18}", &[1, 3, 224, 224]);
        assert_eq!(w.kernels(), 4 + 8 * 7 + 3 * 2 + 2);
    }

    #[test]
    fn resnet_macs_match_torchvision() {
        // torchvision `meta["_ops"]` (GFLOPS, counted as conv + FC multiply-accumulates) at 224x224:
        // ResNet-18 1.814, ResNet-34 3.664, ResNet-50 4.089, ResNet-152 11.514 (torchvision/models/resnet.py;
        // https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet152.html shows 11.51).
        for (depth, gmacs) in [(18, 1.814), (34, 3.664), (50, 4.089), (152, 11.514)] {
            let (w, _) = build_f32("resnet", &format!("{{depth: {depth}}}"), &[1, 3, 224, 224]);
            assert_eq!(round_to(macs(&w) as f64 / 1e9, 3), gmacs, "ResNet-{depth}");
        }
    }

    #[test]
    fn resnet18_flops_are_2_per_mac_plus_elementwise_work() {
        // Convolutions have no bias, so beyond 2 x MACs only elementwise work counts: BatchNorm 2 per element,
        // ReLU and residual add 1, max-pool 9 per output, the mean 1 per input + 1 per output, FC bias 1.
        // Stem: BN + ReLU on 64x112x112 = 3 x 802,816; max-pool 9 x 64x56x56 = 9 x 200,704.
        // A basic block runs 2 BN, 2 ReLU and an add on its output size: 7 x; the downsample adds 2 x.
        // layer1: 2 blocks x 7 x 200,704; layer2..4: (2 x 7 + 2) x 100,352, 50,176, 25,088.
        // Head: mean 25,088 + 512, FC bias 1,000. Total 9,861,096, 0.3 % of 2 x MACs.
        let (w, _) = build_f32("resnet", "{depth: 18}", &[1, 3, 224, 224]);
        let elementwise = 3 * 802_816 + 9 * 200_704 + 14 * 200_704 + 16 * (100_352 + 50_176 + 25_088) + 25_600 + 1_000;
        assert_eq!(elementwise, 9_861_096);
        assert_eq!(w.flops(), 2 * macs(&w) + elementwise);
    }

    #[test]
    fn unknown_depth_is_reported() {
        assert!(build_error("resnet", "{depth: 42}", &[1, 3, 64, 64], DType::F32).contains("no ResNet of depth 42"));
    }
}
