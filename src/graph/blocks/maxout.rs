//! MultiBench's MaxOut units (WORKLOADS.md §2), used by MM-IMDb's encoders and early-fusion head (§4.3):
//! `maxout: {out: m}` is Linear d→2m, a free view to `[..., m, 2]` and a max over the last axis (one reduction
//! kernel); `maxout_mlp: {hidden: h1, hidden2: h2, out: o}` is BatchNorm1d(in) → MaxOut(in→h1) →
//! BatchNorm1d(h1) → MaxOut(h1→h2) → BatchNorm1d(h2) → [Linear h2→o when `out` is given]. Its dropouts are the
//! identity at inference.

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::ReduceKind;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// `maxout: {out: 512}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxOut {
    pub out: usize,
    /// Linear outputs pooled into each output (MultiBench uses 2).
    #[serde(default = "two")]
    pub pieces: usize,
}

fn two() -> usize {
    2
}

/// Linear to `out x pieces`, viewed as `[..., out, pieces]`, max over the pieces.
pub fn maxout(b: &mut GraphBuilder, x: NodeIndex, out: usize, pieces: usize) -> BuildResult<NodeIndex> {
    if out == 0 || pieces == 0 {
        return Err(b.error("maxout", "`out` and `pieces` must be positive"));
    }
    let lin = b.linear("linear", x, out * pieces, true)?;
    let mut shape = b.shape(lin).to_vec();
    shape.pop();
    shape.extend([out, pieces]);
    let view = b.reshape("view", lin, &shape)?;
    b.reduce("max", ReduceKind::Max, view, &[-1], false)
}

impl Block for MaxOut {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "maxout")?;
        maxout(b, x, self.out, self.pieces)
    }
}

/// `maxout_mlp: {hidden: 512}` on `[B, in]` (MultiBench `MaxOut_MLP(out, hidden, in, hidden2, linear_layer)`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxOutMlp {
    /// Width of the first MaxOut.
    pub hidden: usize,
    /// Width of the second MaxOut (defaults to `hidden`).
    #[serde(default)]
    pub hidden2: Option<usize>,
    /// Width of the final Linear; without it the block ends at the last BatchNorm (`linear_layer=False`).
    #[serde(default)]
    pub out: Option<usize>,
}

impl Block for MaxOutMlp {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "maxout_mlp")?;
        let x = b.batch_norm("bn0", x)?;
        let x = b.scope("maxout1", |b| maxout(b, x, self.hidden, 2))?;
        let x = b.batch_norm("bn1", x)?;
        let x = b.scope("maxout2", |b| maxout(b, x, self.hidden2.unwrap_or(self.hidden), 2))?;
        let x = b.batch_norm("bn2", x)?;
        match self.out {
            Some(o) => b.linear("fc", x, o, true),
            None => Ok(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build_f32, expect_f32};

    #[test]
    fn maxout_is_a_linear_a_view_and_a_max() {
        // MM-IMDb text MaxOut(768→512): Linear 768→1024, 787,456 parameters (WORKLOADS.md §4.3 row 4).
        let w = expect_f32("maxout", "{out: 512}", &[1, 768], &[1, 512], 787_456);
        assert_eq!(w.kernels(), 2);
        // 2 per MAC + bias, then one compare per Linear output.
        assert_eq!(w.flops(), (2 * 768 * 1024 + 1024) + 1024);
    }

    #[test]
    fn mmimdb_text_maxout_mlp_has_1_316_352_parameters() {
        // MaxOut-MLP(512, 512, 768) without the final Linear (WORKLOADS.md §4.3).
        let w = expect_f32("maxout_mlp", "{hidden: 512}", &[1, 768], &[1, 512], 1_316_352);
        // BN, Linear, max, BN, Linear, max, BN.
        assert_eq!(w.kernels(), 7);
    }

    #[test]
    fn mmimdb_image_maxout_mlp_has_9_451_520_parameters() {
        // MaxOut-MLP(512, 1024, 4096, 512) without the final Linear (WORKLOADS.md §4.3).
        expect_f32("maxout_mlp", "{hidden: 1024, hidden2: 512}", &[1, 4096], &[1, 512], 9_451_520);
    }

    #[test]
    fn mmimdb_early_fusion_head_has_5_530_647_parameters() {
        // MaxOut-MLP(23, 512, 4864) with its final Linear 512→23 (WORKLOADS.md §4.4, early variant).
        expect_f32("maxout_mlp", "{hidden: 512, out: 23}", &[1, 4864], &[1, 23], 5_530_647);
    }

    #[test]
    fn maxout_mlp_flops_hand_count() {
        // Text MaxOut-MLP on [1, 768]: BN 2 per element; each Linear 2 per MAC + bias; each max 1 per Linear
        // output.
        let (w, _) = build_f32("maxout_mlp", "{hidden: 512}", &[1, 768]);
        let bn = 2 * (768 + 512 + 512);
        let lin = (2 * 768 * 1024 + 1024) + (2 * 512 * 1024 + 1024);
        let max = 1024 + 1024;
        assert_eq!(w.flops(), bn + lin + max);
    }
}
