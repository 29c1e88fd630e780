//! torchvision's `r3d_18`: the 3-D ResNet-18 for video clips `[B, 3, T, H, W]` that the Customization
//! builder offers (WORKLOADS.md §12.3, with the FC removed). Stem: Conv3d 3x7x7, stride 1x2x2, padding 1x3x3,
//! no bias → BN → ReLU, and no max-pool. Then ResNet-18's four stages of basic blocks with 3x3x3 convolutions,
//! striding time as well as space from layer2 on, a global average (ATen runs a 1x1x1 adaptive pool as a
//! mean) and FC 512→400 (Kinetics-400).
//!
//! `r3d_18: {output: pool5}` (outputs as for `resnet`).

use super::cnn::conv_bn;
use super::resnet::{residual_stages, ResNetOutput, ResidualUnit};
use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::Conv;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R3d18 {
    #[serde(default)]
    pub output: ResNetOutput,
    #[serde(default = "kinetics_classes")]
    pub classes: usize,
}

fn kinetics_classes() -> usize {
    400
}

impl Block for R3d18 {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "r3d_18")?;
        let stem = Conv { kernel: vec![3, 7, 7], stride: vec![1, 2, 2], padding: vec![1, 3, 3], ..Conv::new(3, 64, 3, 1, 1, false) };
        let x = conv_bn(b, "stem", x, stem, true)?;
        residual_stages(b, x, 3, ResidualUnit::Basic, [2, 2, 2, 2], self.output, self.classes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build_f32, expect_f32, macs, round_to};

    #[test]
    fn r3d_18_has_33_371_472_parameters() {
        // torchvision `R3D_18_Weights.KINETICS400_V1.meta["num_params"]` = 33371472; WORKLOADS.md §14.
        expect_f32("r3d_18", "{}", &[1, 3, 16, 112, 112], &[1, 400], 33_371_472);
    }

    #[test]
    fn r3d_18_without_fc_has_33_166_272_parameters() {
        // Customization removes the FC (512 x 400 + 400 = 205,200): WORKLOADS.md §12.3.
        expect_f32("r3d_18", "{output: pool5}", &[1, 3, 16, 112, 112], &[1, 512], 33_166_272);
    }

    #[test]
    fn r3d_18_strides_time_from_layer2_on() {
        for (output, want) in [
            ("layer1", vec![1, 64, 16, 56, 56]),
            ("layer2", vec![1, 128, 8, 28, 28]),
            ("layer3", vec![1, 256, 4, 14, 14]),
            ("layer4", vec![1, 512, 2, 7, 7]),
        ] {
            let (_, out) = build_f32("r3d_18", &format!("{{output: {output}}}"), &[1, 3, 16, 112, 112]);
            assert_eq!(out, want, "{output}");
        }
    }

    #[test]
    fn r3d_18_flops_match_torchvision_40_70_gflops() {
        // https://pytorch.org/vision/stable/models/generated/torchvision.models.video.r3d_18.html lists
        // GFLOPS 40.70 (conv + FC multiply-accumulates) for one 16x112x112 clip.
        let (w, _) = build_f32("r3d_18", "{}", &[1, 3, 16, 112, 112]);
        let m = macs(&w);
        assert_eq!(round_to(m as f64 / 1e9, 2), 40.70, "{m} MACs");
        // On top of 2 x MACs, the same elementwise work as ResNet-18 (see resnet.rs), on 3-D maps: stem BN + ReLU
        // 3 x 64x16x56x56; layer1 2 blocks x 7 x 64x16x56x56; layer2..4 16 x 128x8x28x28, 256x4x14x14,
        // 512x2x7x7; mean 50,176 + 512; FC bias 400. 0.09 % of 2 x MACs: 3x3x3 kernels do many MACs per element.
        let (stem, l1, l2, l3, l4) = (3_211_264, 3_211_264, 802_816, 200_704, 50_176);
        let elementwise = 3 * stem + 14 * l1 + 16 * (l2 + l3 + l4) + 50_688 + 400;
        assert_eq!(w.flops(), 2 * m + elementwise);
    }
}
