//! Medical VQA's question-guided glimpse attention (WORKLOADS.md §7.4; the `Attention` module and
//! `apply_attention` of pytorch-vqa, which the Medical VQA code follows). Inputs: the visual map `v [B, C, H, W]`
//! and the question vector `q [B, Q]`. Conv 1x1 C→mid without bias on `v`; Linear Q→mid on `q`, viewed as
//! `[B, mid, 1, 1]` and broadcast over H×W by the Hadamard product (attention-internal fusion `mul`); ReLU;
//! Conv 1x1 mid→glimpses with bias; softmax over the H·W positions of each glimpse; then each glimpse's weights
//! times the ORIGINAL map (one broadcast multiply `[B, g, C, HW]`) summed over positions. Output `[B, g·C]`.
//! Dropout is the identity at inference. Every view (the question tile, `v` as `[B, 1, C, HW]`, the logits as
//! `[B, g, HW]`) is free, so the block launches 8 kernels.
//!
//! `glimpse_attention: {mid: 512, glimpses: 2}`, inputs `[visual, question]`.

use super::Block;
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Conv, ReduceKind};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlimpseAttention {
    /// Width of the joint space the question and every visual position are projected to.
    pub mid: usize,
    /// Attention maps, each giving one attended copy of the visual features.
    pub glimpses: usize,
}

impl Block for GlimpseAttention {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let what = "glimpse_attention";
        let &[v, q] = inputs else {
            return Err(b.error(what, format!("takes [visual map, question vector], got {} input(s)", inputs.len())));
        };
        let (batch, channels, positions) = match (b.shape(v), b.shape(q)) {
            (&[bv, c, h, w], &[bq, _]) if bv == bq => (bv, c, h * w),
            (vs, qs) => {
                return Err(b.error(what, format!("expects a map [B, C, H, W] and a vector [B, Q], got {} and {}", fmt_shape(vs), fmt_shape(qs))));
            }
        };
        if self.mid == 0 || self.glimpses == 0 {
            return Err(b.error(what, "`mid` and `glimpses` must be positive"));
        }
        let vp = b.add("v_conv", Op::Conv(Conv::new(2, self.mid, 1, 1, 0, false)), &[v])?;
        let qp = b.linear("q_lin", q, self.mid, true)?;
        let tiled = b.reshape("q_tile", qp, &[batch, self.mid, 1, 1])?;
        let joint = b.binary("mul", BinaryKind::Mul, vp, tiled)?;
        let joint = b.relu("relu", joint)?;
        let logits = b.add("x_conv", Op::Conv(Conv::new(2, self.glimpses, 1, 1, 0, true)), &[joint])?;
        let logits = b.reshape("logits", logits, &[batch, self.glimpses, positions])?;
        let weights = b.softmax("softmax", logits, -1)?;
        let weights = b.reshape("weights", weights, &[batch, self.glimpses, 1, positions])?;
        let features = b.reshape("features", v, &[batch, 1, channels, positions])?;
        let weighted = b.binary("weighted", BinaryKind::Mul, weights, features)?;
        let attended = b.reduce("sum", ReduceKind::Sum, weighted, &[-1], false)?;
        b.reshape("flatten", attended, &[batch, self.glimpses * channels])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, Workload};

    /// The block on a visual map and a question vector of these shapes.
    fn attend(block: &GlimpseAttention, visual: &[usize], question: &[usize]) -> Result<(Workload, Vec<usize>), String> {
        let mut b = GraphBuilder::new(visual[0]);
        let v = b.input("v", visual, DType::F32).unwrap();
        let q = b.input("q", question, DType::F32).unwrap();
        let y = b.scope("attention", |b| block.build(b, &[v, q])).map_err(|e| e.message)?;
        let out = b.shape(y).to_vec();
        Ok((b.finish("t", "", vec![y]), out))
    }

    const MEDICAL_VQA: GlimpseAttention = GlimpseAttention { mid: 512, glimpses: 2 };

    #[test]
    fn medical_vqa_attention_has_1_574_402_parameters() {
        // WORKLOADS.md §7.4: v_conv 2048·512 (no bias) + q_lin 1024·512 + 512 + x_conv 512·2 + 2.
        let (w, out) = attend(&MEDICAL_VQA, &[2, 2048, 14, 14], &[2, 1024]).unwrap();
        assert_eq!(w.params(), 1_048_576 + 524_800 + 1_026);
        assert_eq!(w.params(), 1_574_402);
        // Two glimpses of the 2048-channel map, flattened: §7.4 step 7.
        assert_eq!(out, [2, 4096]);
    }

    #[test]
    fn attention_launches_eight_kernels_and_every_view_is_free() {
        // v_conv, q_lin, Hadamard, ReLU, x_conv, softmax, weighted multiply, sum over positions.
        let (w, _) = attend(&MEDICAL_VQA, &[2, 2048, 14, 14], &[2, 1024]).unwrap();
        assert_eq!(w.kernels(), 8);
        // The weighted multiply broadcasts [2, 2, 1, 196] over [2, 1, 2048, 196] (§7.4 step 7).
        let weighted = w.nodes().find(|(_, n)| n.name == "attention/weighted").unwrap().1;
        assert_eq!(weighted.output.shape, [2, 2, 2048, 196]);
        let softmax = w.nodes().find(|(_, n)| n.name == "attention/softmax").unwrap().1;
        assert_eq!(softmax.output.shape, [2, 2, 196]);
    }

    #[test]
    fn attention_flops_hand_count() {
        // B = 2, C = 2048, HW = 196, mid = 512, g = 2, Q = 1024.
        let (b, c, s, m, g, q) = (2u64, 2048u64, 196u64, 512u64, 2u64, 1024u64);
        let (w, _) = attend(&MEDICAL_VQA, &[2, 2048, 14, 14], &[2, 1024]).unwrap();
        let v_conv = 2 * b * s * c * m;
        let q_lin = 2 * b * q * m + b * m;
        let hadamard_relu = 2 * b * m * s;
        let x_conv = 2 * b * s * m * g + b * g * s;
        let softmax = 5 * b * g * s;
        // One multiply per weighted element, one add per element summed (the sum counts 1 per input element,
        // as every reduction does).
        let weighted = b * g * c * s;
        let sum = b * g * c * s;
        assert_eq!(w.flops(), v_conv + q_lin + hadamard_relu + x_conv + softmax + weighted + sum);
    }

    #[test]
    fn wrong_inputs_are_explained() {
        let err = attend(&MEDICAL_VQA, &[2, 2048, 14, 14], &[3, 1024]).unwrap_err();
        assert!(err.contains("expects a map [B, C, H, W] and a vector [B, Q]"), "{err}");
        let err = attend(&MEDICAL_VQA, &[2, 2048], &[2, 1024]).unwrap_err();
        assert!(err.contains("[2, 2048] and [2, 1024]"), "{err}");
        let mut b = GraphBuilder::new(2);
        let v = b.input("v", &[2, 8, 2, 2], DType::F32).unwrap();
        assert!(MEDICAL_VQA.build(&mut b, &[v]).unwrap_err().message.contains("got 1 input(s)"));
    }
}
