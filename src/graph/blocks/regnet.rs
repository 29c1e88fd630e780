//! timm's RegNetY-032 (`regnety_032`), whole or stage by stage, because TransFuser runs a GPT fusion between
//! its stages (WORKLOADS.md §11.3). Stem: conv 3x3 s2 → 32 + BN + ReLU. Four stages of Y-blocks, depths
//! 2/5/13/1 and widths 72/216/576/1512: 1x1 conv+BN+ReLU, 3x3 grouped conv (group width 24, stride 2 in a
//! stage's first block) + BN + ReLU, squeeze-excitation reduced to 0.25 x the block's *input* width (timm
//! `Bottleneck`: `se_channels = round(in_chs * se_ratio)`), 1x1 conv + BN, then the shortcut (a strided 1x1
//! conv + BN in each stage's first block), the add and the ReLU. Head: global average pool and FC.
//!
//! Blocks: `regnety_stem`, `regnety_stage: {index: 1..4}` (input width inferred) and
//! `regnety_032: {output: logits | pooled | features}`.

use super::cnn::{conv_bn, pool_and_classify, residual_relu, shortcut};
use super::squeeze_excite::squeeze_excite;
use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::Conv;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// Blocks per stage of `regnety_032`.
pub const REGNETY_032_DEPTHS: [usize; 4] = [2, 5, 13, 1];
/// Output width per stage of `regnety_032`.
pub const REGNETY_032_WIDTHS: [usize; 4] = [72, 216, 576, 1512];
const STEM_WIDTH: usize = 32;
const GROUP_WIDTH: usize = 24;
const SE_RATIO: f64 = 0.25;

/// One Y-block (timm `regnet.Bottleneck` with bottleneck ratio 1).
fn y_block(b: &mut GraphBuilder, x: NodeIndex, width: usize, stride: usize) -> BuildResult<NodeIndex> {
    let in_width = b.shape(x)[1];
    let c1 = conv_bn(b, "conv1", x, Conv::new(2, width, 1, 1, 0, false), true)?;
    let grouped = Conv { groups: width / GROUP_WIDTH, ..Conv::new(2, width, 3, stride, 1, false) };
    let c2 = conv_bn(b, "conv2", c1, grouped, true)?;
    // Python's round() on these widths (32, 72, 216, 576) is exact, so half-way cases do not arise.
    let reduced = (in_width as f64 * SE_RATIO).round() as usize;
    let se = b.scope("se", |b| squeeze_excite(b, c2, reduced))?;
    let c3 = conv_bn(b, "conv3", se, Conv::new(2, width, 1, 1, 0, false), false)?;
    let s = shortcut(b, x, 2, width, stride)?;
    residual_relu(b, c3, s)
}

fn stem(b: &mut GraphBuilder, x: NodeIndex) -> BuildResult<NodeIndex> {
    conv_bn(b, "stem", x, Conv::new(2, STEM_WIDTH, 3, 2, 1, false), true)
}

/// Stage `index` (1..=4) of `regnety_032`; the first block halves the resolution.
fn stage(b: &mut GraphBuilder, x: NodeIndex, index: usize) -> BuildResult<NodeIndex> {
    let (depth, width) = (REGNETY_032_DEPTHS[index - 1], REGNETY_032_WIDTHS[index - 1]);
    let mut x = x;
    for j in 0..depth {
        x = b.scope(&format!("block{j}"), |b| y_block(b, x, width, if j == 0 { 2 } else { 1 }))?;
    }
    Ok(x)
}

/// `regnety_stem`: conv 3x3 s2 → 32, BN, ReLU.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegNetYStem {}

impl Block for RegNetYStem {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "regnety_stem")?;
        stem(b, x)
    }
}

/// `regnety_stage: {index: 2}`: one stage of `regnety_032`, from whatever width its input has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegNetYStage {
    /// 1 to 4, as timm's `s1`..`s4`.
    pub index: usize,
}

impl Block for RegNetYStage {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "regnety_stage")?;
        if !(1..=4).contains(&self.index) {
            return Err(b.error("regnety_stage", format!("stage index {} is not 1, 2, 3 or 4", self.index)));
        }
        stage(b, x, self.index)
    }
}

/// Where the whole `regnety_032` stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegNetOutput {
    /// The stage-4 map `[B, 1512, H/32, W/32]`.
    Features,
    /// Its global average `[B, 1512]` (timm with `num_classes=0`).
    Pooled,
    #[default]
    Logits,
}

/// `regnety_032: {output: features}`: stem and four stages, then optionally the classifier head.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegNetY032 {
    #[serde(default)]
    pub output: RegNetOutput,
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn imagenet_classes() -> usize {
    1000
}

impl Block for RegNetY032 {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let mut x = one_input(b, inputs, "regnety_032")?;
        x = stem(b, x)?;
        for i in 1..=4 {
            x = b.scope(&format!("s{i}"), |b| stage(b, x, i))?;
        }
        if self.output == RegNetOutput::Features {
            return Ok(x);
        }
        b.scope("head", |b| pool_and_classify(b, x, (self.output == RegNetOutput::Logits).then_some(self.classes)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build_error, build_f32, expect_f32, macs, round_to};
    use crate::graph::builder::GraphBuilder;
    use crate::graph::blocks::{Block, RegNetYStage, RegNetYStem};
    use crate::graph::DType;

    #[test]
    fn regnety_032_has_19_436_338_parameters() {
        // timm `regnety_032` and torchvision `regnet_y_3_2gf` (same network; torchvision
        // `RegNet_Y_3_2GF_Weights.IMAGENET1K_V1.meta["num_params"]` = 19436338); WORKLOADS.md §11.3, §14.
        expect_f32("regnety_032", "{}", &[1, 3, 224, 224], &[1, 1000], 19_436_338);
    }

    #[test]
    fn regnety_032_without_classifier_has_17_923_338_parameters() {
        // The classifier is 1512 x 1000 + 1000 = 1,513,000 (WORKLOADS.md §11.3: as TransFuser uses it).
        expect_f32("regnety_032", "{output: features}", &[1, 3, 256, 256], &[1, 1512, 8, 8], 17_923_338);
        expect_f32("regnety_032", "{output: pooled}", &[1, 3, 256, 256], &[1, 1512], 17_923_338);
    }

    /// Runs the stem and the four stages one block at a time, as TransFuser does, returning each output shape.
    fn stage_shapes(input: [usize; 4]) -> Vec<Vec<usize>> {
        let mut b = GraphBuilder::new(input[0]);
        let mut x = b.input("x", &input, DType::F32).unwrap();
        x = b.scope("stem", |b| RegNetYStem {}.build(b, &[x])).unwrap();
        let mut shapes = vec![b.shape(x).to_vec()];
        for index in 1..=4 {
            x = b.scope(&format!("layer{index}"), |b| RegNetYStage { index }.build(b, &[x])).unwrap();
            shapes.push(b.shape(x).to_vec());
        }
        assert_eq!(b.finish("t", "", vec![x]).params(), 17_923_338, "stage by stage = whole network");
        shapes
    }

    #[test]
    fn transfuser_stage_shapes_match_workloads_table() {
        // WORKLOADS.md §11.3, B = 10: image stream at 160x704, LiDAR stream at 256x256.
        let image = stage_shapes([10, 3, 160, 704]);
        assert_eq!(image, vec![vec![10, 32, 80, 352], vec![10, 72, 40, 176], vec![10, 216, 20, 88], vec![10, 576, 10, 44], vec![10, 1512, 5, 22]]);
        let lidar = stage_shapes([10, 3, 256, 256]);
        assert_eq!(lidar, vec![vec![10, 32, 128, 128], vec![10, 72, 64, 64], vec![10, 216, 32, 32], vec![10, 576, 16, 16], vec![10, 1512, 8, 8]]);
    }

    #[test]
    fn se_reduction_follows_the_block_input_width() {
        // Stage 1 on a 32-channel stem output: block 0 gates 72 channels through round(0.25 x 32) = 8, block 1
        // through round(0.25 x 72) = 18. Sizing from the gated width (72 → 18 in both) would add 2 x 10 x 72 + 10.
        let (w, _) = build_f32("regnety_stage", "{index: 1}", &[1, 32, 64, 64]);
        let se: Vec<u64> = w.nodes().filter(|(_, n)| n.name.contains("/se/fc1")).map(|(_, n)| n.cost.params).collect();
        assert_eq!(se, vec![72 * 8 + 8, 72 * 18 + 18]);
    }

    #[test]
    fn bad_stage_index_is_reported() {
        assert!(build_error("regnety_stage", "{index: 5}", &[1, 32, 8, 8], DType::F32).contains("not 1, 2, 3 or 4"));
    }

    #[test]
    fn regnety_032_flops_match_torchvision_3_176_gmacs() {
        // torchvision `RegNet_Y_3_2GF_Weights.IMAGENET1K_V1.meta["_ops"]` = 3.176 (GFLOPS counted as conv + FC
        // multiply-accumulates, squeeze-excitation convs included) at 224x224; timm lists regnety_032 at 3.2 GMACs.
        let (w, _) = build_f32("regnety_032", "{}", &[1, 3, 224, 224]);
        let m = macs(&w);
        assert_eq!(round_to(m as f64 / 1e9, 3), 3.176, "{m} MACs");
        // On top of 2 x MACs: BatchNorm 2 per conv output, ReLUs, residual adds, and the SE mean and gate 1 per
        // element each: 12 FLOPs per element of a Y-block (3 BN, 2 ReLU, mean, gate, add, ReLU) against
        // 9 x 24 + 2 x w MACs (grouped 3x3, two 1x1), a share of 1.7 % at width 72 falling to 0.2 % at 1512;
        // weighted by where the MACs are, 0.66 %, about twice ResNet-152's 0.35 %.
        let extra = (w.flops() - 2 * m) as f64 / (2 * m) as f64;
        assert!((0.0060..0.0070).contains(&extra), "elementwise share {extra}");
    }
}
