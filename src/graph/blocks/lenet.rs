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
