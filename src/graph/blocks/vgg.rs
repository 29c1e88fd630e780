//! torchvision's VGG without batch norm (`vgg11`, `vgg13`, `vgg16`, `vgg19`): 3x3 convolutions with bias and
//! ReLU, 2x2 max-pools, an adaptive average pool to 7x7 (a real kernel even when the map is already 7x7:
//! ATen only short-cuts the 1x1 case), then the classifier FC 25088→4096→ReLU→4096→ReLU→classes. Dropout is
//! the identity at inference and adds nothing. MM-IMDb runs `vgg16` to the 1000 logits (WORKLOADS.md §4.3).
//!
//! `vgg: {depth: 16, output: logits}`; `output: features` stops after the last max-pool (`[B, 512, H/32, W/32]`),
//! `fc7` after the second classifier ReLU (`[B, 4096]`).

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{AdaptiveAvgPool, Conv};
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// Where a VGG stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VggOutput {
    /// The convolutional feature map after the last max-pool.
    Features,
    /// The 4096-wide activation after the second classifier ReLU.
    Fc7,
    #[default]
    Logits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vgg {
    /// 11, 13, 16 or 19 weight layers (torchvision configurations A, B, D, E).
    pub depth: usize,
    #[serde(default)]
    pub output: VggOutput,
    #[serde(default = "imagenet_classes")]
    pub classes: usize,
}

fn imagenet_classes() -> usize {
    1000
}

/// A 2x2 max-pool in a configuration list.
const POOL: usize = 0;

/// torchvision's `cfgs`: output widths of the 3x3 convolutions, `POOL` for a max-pool.
fn layout(depth: usize) -> Option<&'static [usize]> {
    const P: usize = POOL;
    Some(match depth {
        11 => &[64, P, 128, P, 256, 256, P, 512, 512, P, 512, 512, P],
        13 => &[64, 64, P, 128, 128, P, 256, 256, P, 512, 512, P, 512, 512, P],
        16 => &[64, 64, P, 128, 128, P, 256, 256, 256, P, 512, 512, 512, P, 512, 512, 512, P],
        19 => &[64, 64, P, 128, 128, P, 256, 256, 256, 256, P, 512, 512, 512, 512, P, 512, 512, 512, 512, P],
        _ => return None,
    })
}

impl Block for Vgg {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "vgg")?;
        let layout = layout(self.depth).ok_or_else(|| b.error("vgg", format!("no VGG of depth {} (11, 13, 16, 19)", self.depth)))?;
        let features = b.scope("features", |b| {
            let (mut x, mut conv_i, mut pool_i) = (x, 0, 0);
            for &width in layout {
                if width == POOL {
                    pool_i += 1;
                    x = b.max_pool(&format!("pool{pool_i}"), x, 2, 2, 2)?;
                } else {
                    conv_i += 1;
                    let c = b.add(&format!("conv{conv_i}"), Op::Conv(Conv::new(2, width, 3, 1, 1, true)), &[x])?;
                    x = b.relu(&format!("relu{conv_i}"), c)?;
                }
            }
            Ok(x)
        })?;
        if self.output == VggOutput::Features {
            return Ok(features);
        }
        let pooled = b.add("avgpool", Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![7, 7] }), &[features])?;
        let flat = b.flatten("flatten", pooled, 1)?;
        b.scope("classifier", |b| {
            let h1 = b.linear("fc1", flat, 4096, true)?;
            let a1 = b.relu("relu1", h1)?;
            let h2 = b.linear("fc2", a1, 4096, true)?;
            let a2 = b.relu("relu2", h2)?;
            if self.output == VggOutput::Fc7 {
                return Ok(a2);
            }
            b.linear("fc3", a2, self.classes, true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build_error, build_f32, expect_f32, macs, round_to};
    use crate::graph::DType;

    #[test]
    fn vgg16_has_138_357_544_parameters() {
        // torchvision `VGG16_Weights.IMAGENET1K_V1.meta["num_params"]` = 138357544; WORKLOADS.md §14.
        expect_f32("vgg", "{depth: 16}", &[1, 3, 224, 224], &[1, 1000], 138_357_544);
    }

    #[test]
    fn vgg16_stops_at_features_or_fc7() {
        // The 13 convolutions alone: 138,357,544 minus the three FC layers.
        let convs = 138_357_544 - (25088 * 4096 + 4096) - (4096 * 4096 + 4096) - (4096 * 1000 + 1000);
        expect_f32("vgg", "{depth: 16, output: features}", &[2, 3, 224, 224], &[2, 512, 7, 7], convs);
        expect_f32("vgg", "{depth: 16, output: fc7}", &[2, 3, 224, 224], &[2, 4096], 138_357_544 - (4096 * 1000 + 1000));
    }

    #[test]
    fn vgg16_launches_one_kernel_per_eager_op() {
        // 13 conv + 13 ReLU + 5 max-pool + adaptive avg-pool + 3 FC + 2 ReLU; flatten is a view, dropout nothing.
        let (w, _) = build_f32("vgg", "{depth: 16}", &[1, 3, 224, 224]);
        assert_eq!(w.kernels(), 13 + 13 + 5 + 1 + 3 + 2);
    }

    #[test]
    fn vgg16_flops_match_torchvision_15_47_gmacs() {
        // torchvision `VGG16_Weights.IMAGENET1K_V1.meta["_ops"]` = 15.47 (GFLOPS, counted as multiply-accumulates
        // of convolutions and FC layers) at 224x224; the same figure is on
        // https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg16.html.
        let (w, _) = build_f32("vgg", "{depth: 16}", &[1, 3, 224, 224]);
        let m = macs(&w);
        assert_eq!(round_to(m as f64 / 1e9, 2), 15.47);
        // Our FLOPs are 2 per MAC plus one per bias add, ReLU element and pooling-window element: conv bias adds
        // and ReLUs 13,547,520 each (the conv outputs: 128 maps of 224², 256 of 112², 768 of 56², 1536 of 28²
        // and 1536 of 14²), max-pool compares 4 x 1,530,368, the 7x7 average 2 x 25,088, FC biases 9,192 and
        // ReLUs 8,192: 0.1 % on top of 2 x MACs.
        let extra = 2 * 13_547_520 + 4 * 1_530_368 + 2 * 25_088 + 9_192 + 8_192;
        assert_eq!(w.flops(), 2 * m + extra);
    }

    #[test]
    fn unknown_depth_is_reported() {
        assert!(build_error("vgg", "{depth: 15}", &[1, 3, 32, 32], DType::F32).contains("no VGG of depth 15"));
    }
}
