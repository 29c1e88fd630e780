//! MultiBench's `LeNet(cin, c, n)` (WORKLOADS.md §2): block 0 is Conv 5x5 p2 (no bias) → BatchNorm → ReLU →
//! MaxPool 2x2; blocks 1..n are Conv 3x3 p1 doubling the width, BN, ReLU, MaxPool. After every block a global
//! average pool is computed and thrown away: it still runs, so it is a node that nothing consumes. The output
//! is the last pooled map with its size-1 spatial axes squeezed.
//!
//! One divergence from the source: PyTorch's bare `squeeze()` also drops the batch axis when B = 1; we keep
//! it so the same graph works at any batch size.

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use petgraph::graph::NodeIndex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeNet {
    /// Width of block 0; block i has `channels * 2^i`.
    pub channels: usize,
    /// Number of 3x3 blocks after block 0 (`n` in `LeNet(cin, c, n)`).
    pub blocks: usize,
    /// Compute (and discard) the global-average side output after every block, as MultiBench does.
    #[serde(default = "yes")]
    pub side_outputs: bool,
}

fn yes() -> bool {
    true
}

impl Block for LeNet {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let mut x = one_input(b, inputs, "lenet")?;
        for i in 0..=self.blocks {
            x = b.scope(&format!("block{i}"), |b| {
                let (k, p) = if i == 0 { (5, 2) } else { (3, 1) };
                let c = b.conv("conv", x, 2, self.channels << i, k, 1, p, false)?;
                let n = b.batch_norm("bn", c)?;
                let r = b.relu("relu", n)?;
                let y = b.max_pool("pool", r, 2, 2, 2)?;
                if self.side_outputs {
                    b.global_avg_pool("side_gap", y)?;
                }
                Ok(y)
            })?;
        }
        let spatial_ones = b.shape(x)[2..].iter().all(|&d| d == 1);
        if spatial_ones {
            let c = b.shape(x)[1];
            let batch = b.shape(x)[0];
            x = b.reshape("squeeze", x, &[batch, c])?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, OpClass};

    fn build(cin: usize, hw: usize, channels: usize, blocks: usize, batch: usize) -> (crate::graph::Workload, NodeIndex) {
        let mut b = GraphBuilder::new(batch);
        let x = b.input("x", &[batch, cin, hw, hw], DType::F32).unwrap();
        let y = b.scope("lenet", |b| LeNet { channels, blocks, side_outputs: true }.build(b, &[x])).unwrap();
        (b.finish("t", "", vec![y]), y)
    }

    #[test]
    fn lenet_1_6_3_matches_hand_count() {
        // WORKLOADS.md §3.3: LeNet(1, 6, 3) on 28x28.
        // convs: 1*6*25 + 6*12*9 + 12*24*9 + 24*48*9 = 150 + 648 + 2592 + 10368; BN: 2*(6+12+24+48).
        let (w, y) = build(1, 28, 6, 3, 40);
        assert_eq!(w.params(), 150 + 648 + 2_592 + 10_368 + 2 * (6 + 12 + 24 + 48));
        assert_eq!(w.params(), 13_938);
        assert_eq!(w.graph[y].output.shape, vec![40, 48]);
        // Conv FLOPs at the pre-pool resolutions 28, 14, 7, 3 (2 FLOPs per MAC, no bias).
        let conv_flops: u64 = w.nodes().filter(|(_, n)| n.cost.class == OpClass::Conv).map(|(_, n)| n.cost.flops).sum();
        let hand = 2 * 40 * (6 * 28 * 28 * 25 + 12 * 14 * 14 * 6 * 9 + 24 * 7 * 7 * 12 * 9 + 48 * 3 * 3 * 24 * 9);
        assert_eq!(conv_flops, hand);
        // Per block: conv, bn, relu, pool, side global-average; plus the final squeeze view.
        let kernels: u64 = w.kernels();
        assert_eq!(kernels, 4 * 5);
    }

    #[test]
    fn lenet_1_6_5_audio_branch() {
        // WORKLOADS.md §3.3 audio table: 221,874 params, output [B, 192] from 112x112.
        let (w, y) = build(1, 112, 6, 5, 40);
        assert_eq!(w.params(), 221_874);
        assert_eq!(w.graph[y].output.shape, vec![40, 192]);
        // Six discarded side outputs are real kernels that nothing consumes.
        let side = w.nodes().filter(|(i, n)| n.name.ends_with("side_gap") && w.consumers(*i).next().is_none()).count();
        assert_eq!(side, 6);
    }

    #[test]
    fn lenet_keeps_spatial_map_when_not_1x1() {
        // Customization: 3x256x256, width 6, 3 extra blocks -> 48 maps of 16x16 (WORKLOADS.md §12.3).
        let (w, y) = build(3, 256, 6, 3, 1);
        assert_eq!(w.graph[y].output.shape, vec![1, 48, 16, 16]);
        assert_eq!(w.params(), 14_238);
    }
}
