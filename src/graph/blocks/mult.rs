//! MulT, the Multimodal Transformer (Tsai et al., ACL 2019), as MultiBench runs it for MuJoCo Push's `mult`
//! variant (WORKLOADS.md §9.5): a 1x1 Conv1d projection per modality; a cross-modal transformer for every
//! ordered pair (target i, source j), where i's tokens attend to j's; per target a self-attention
//! transformer over the concatenation of its cross-modal outputs; then the streams concatenated, a residual
//! projection and the output layer.
//!
//! Each transformer scales its inputs by sqrt(d), adds sinusoidal positions (a buffer here; MulT computes the
//! table from a cache), runs pre-LayerNorm layers with a causal mask and a ReLU FFN of 4 d, and ends with a
//! LayerNorm. In cross-modal layers MulT normalizes the key and the value source with the same LayerNorm as
//! the query (shared parameters); it embeds and normalizes the value source separately from the key source
//! although they hold the same tensor — we compute that copy once (two small kernels fewer per layer).
//!
//! Inputs: the modality features, time-major `[T, B, d]`. Output `[B, T, out]`.

use super::transformer::{attention, Attention, QkvLayout};
use super::Block;
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Conv, UnaryFn, WeightKind};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// `mult: {heads: 4, layers: 3, out: 2}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mult {
    pub heads: usize,
    pub layers: usize,
    pub out: usize,
}

/// One MulT transformer encoder: `x` attends to `src` (itself when `None`). Inputs `[B, T, d]`.
fn mult_encoder(b: &mut GraphBuilder, x: NodeIndex, src: Option<NodeIndex>, heads: usize, layers: usize) -> BuildResult<NodeIndex> {
    let [batch, t, d] = *b.shape(x) else { unreachable!("checked by the caller") };
    let scale = UnaryFn::Scale { factor: (d as f32).sqrt(), offset: 0.0 };
    let pos = b.weight("positions", &[1, t, d], WeightKind::Buffer)?;
    let embed = |b: &mut GraphBuilder, name: &str, v: NodeIndex| -> BuildResult<NodeIndex> {
        let s = b.unary(&format!("{name}_scale"), scale, v)?;
        b.binary(&format!("{name}_pos"), BinaryKind::Add, s, pos)
    };
    let mut h = embed(b, "embed", x)?;
    let kv = match src {
        Some(s) => Some(embed(b, "embed_kv", s)?),
        None => None,
    };
    let attn = Attention { heads, qkv: QkvLayout::Separate, qkv_bias: true, out_bias: true, mask: true, separate_scale: true };
    let group = b.qualified("shared_norm");
    for l in 0..layers {
        h = b.scope(&format!("layer{l}"), |b| {
            // LayerNorm 0 normalizes the query and the key/value source with the same parameters.
            let q = b.shared(&format!("{group}{l}"), |b| b.layer_norm("norm0", h))?;
            let kvn = match kv {
                Some(s) => Some(b.scope("kv", |b| b.shared(&format!("{group}{l}"), |b| b.layer_norm("norm0", s)))?),
                None => None,
            };
            let a = b.scope("attn", |b| attention(b, q, kvn, &attn))?;
            let h1 = b.binary("attn_residual", BinaryKind::Add, h, a)?;
            let n = b.layer_norm("norm1", h1)?;
            let f = b.linear("fc1", n, 4 * d, true)?;
            let f = b.relu("relu", f)?;
            let f = b.linear("fc2", f, d, true)?;
            b.binary("ffn_residual", BinaryKind::Add, h1, f)
        })?;
    }
    let _ = batch;
    b.layer_norm("final_norm", h)
}

impl Block for Mult {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        if inputs.len() < 2 {
            return Err(b.error("mult", format!("fuses at least 2 modalities, got {}", inputs.len())));
        }
        let first = b.shape(inputs[0]).to_vec();
        for &x in inputs {
            if b.shape(x).len() != 3 || b.shape(x) != first.as_slice() {
                return Err(b.error("mult", format!("expects equal time-major features [T, B, d], got {}", fmt_shape(b.shape(x)))));
            }
        }
        let [t, batch, d] = first[..] else { unreachable!() };
        let n = inputs.len();
        // 1. Conv1d k1 projections on [B, d, T], back to batch-first tokens [B, T, d].
        let mut proj = Vec::with_capacity(n);
        for (i, &x) in inputs.iter().enumerate() {
            let p = b.scope(&format!("proj{i}"), |b| {
                let c = b.permute("to_channels", x, &[1, 2, 0])?;
                let c = b.add("conv1d", Op::Conv(Conv::new(1, d, 1, 1, 0, false)), &[c])?;
                b.permute("to_tokens", c, &[0, 2, 1])
            })?;
            proj.push(p);
        }
        // 2. Cross-modal transformers, then 3. one self-attention transformer per target.
        let mut streams = Vec::with_capacity(n);
        for i in 0..n {
            let mut cross = Vec::with_capacity(n);
            for j in 0..n {
                cross.push(b.scope(&format!("cross_{i}_from_{j}"), |b| mult_encoder(b, proj[i], Some(proj[j]), self.heads, self.layers))?);
            }
            let cat = b.concat(&format!("target{i}_concat"), &cross, 2)?;
            streams.push(b.scope(&format!("self_{i}"), |b| mult_encoder(b, cat, None, self.heads, self.layers))?);
        }
        // 4. All streams, 5. the residual projection, 6. the output layer.
        let all = b.concat("streams", &streams, 2)?;
        let w = b.shape(all)[2];
        let h = b.linear("proj1", all, w, true)?;
        let h = b.relu("proj_relu", h)?;
        let h = b.linear("proj2", h, w, true)?;
        let h = b.binary("proj_residual", BinaryKind::Add, h, all)?;
        let y = b.linear("out", h, self.out, true)?;
        debug_assert_eq!(b.shape(y), &[batch, t, self.out]);
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::DType;

    #[test]
    fn mult_for_mujoco_push_has_the_published_parameter_count() {
        // WORKLOADS.md §9.5: 4 x 64 Conv1d (16,384), 16 cross-modal transformers of 150,080, 4 self-attention
        // transformers of 2,369,792, projection 2,099,200, output 2,050.
        let mut b = GraphBuilder::new(1);
        let xs: Vec<NodeIndex> = (0..4).map(|i| b.input(&format!("x{i}"), &[16, 1, 64], DType::F32).unwrap()).collect();
        let y = b.scope("mult", |b| Mult { heads: 4, layers: 3, out: 2 }.build(b, &xs)).unwrap();
        assert_eq!(b.shape(y), &[1, 16, 2]);
        let w = b.finish("t", "", vec![y]);
        assert_eq!(w.params(), 16_384 + 16 * 150_080 + 4 * 2_369_792 + 2_099_200 + 2_050);
        let one_cross: u64 = w.nodes().filter(|(_, n)| n.name.starts_with("mult/cross_0_from_1/")).map(|(_, n)| n.cost.params).sum();
        // Node-level sum counts the shared LayerNorm twice per layer (query and key/value): 3 x 128 extra.
        assert_eq!(one_cross, 150_080 + 3 * 128);
    }
}
