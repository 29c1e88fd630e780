//! The fusion operators MMBench and MultiBench offer (WORKLOADS.md §2 and §12.4), each a block whose inputs
//! are the modality features in order. Plain concatenation is the `concat` op; the rest are here:
//! `concat_linear`, `tensor_fusion`, `low_rank_tensor_fusion`, `multiplicative_interactions`,
//! `attention_fusion`, `film`, `rnn_fusion` and `transformer_fusion`. They expand into the kernels eager
//! PyTorch runs for them.

use super::recurrent::{Gru, Recurrent, RecurrentOutput};
use super::transformer::{transformer_layer, NormPlacement, QkvLayout, TransformerLayer};
use super::{Block, Mlp};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::{BinaryKind, OuterProduct, WeightKind};
use crate::graph::op::Op;
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

fn at_least(b: &GraphBuilder, inputs: &[NodeIndex], n: usize, what: &str) -> BuildResult<()> {
    if inputs.len() < n {
        return Err(b.error(what, format!("`{what}` fuses at least {n} modalities, got {} input(s)", inputs.len())));
    }
    Ok(())
}

/// Flattens each input to `[B, d]` (MultiBench fusions flatten from axis 1).
fn flat_inputs(b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<Vec<NodeIndex>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, &x)| if b.shape(x).len() == 2 { Ok(x) } else { b.flatten(&format!("flatten{i}"), x, 1) })
        .collect()
}

fn width(b: &GraphBuilder, x: NodeIndex) -> usize {
    *b.shape(x).last().expect("rank >= 1")
}

/// `concat_linear: {out: 2}`: concatenate on the last axis (MuJoCo Push keeps the time axis), then a Linear.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatLinear {
    pub out: usize,
    #[serde(default = "last")]
    pub axis: i64,
}

fn last() -> i64 {
    -1
}

impl Block for ConcatLinear {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 1, "concat_linear")?;
        let c = if inputs.len() == 1 { inputs[0] } else { b.concat("concat", inputs, self.axis)? };
        b.linear("linear", c, self.out, true)
    }
}

/// `tensor_fusion`: every modality vector extended by a constant 1, then iterated outer products, flattened:
/// `[..., prod(d_i + 1)]`; leading (batch, time) axes are kept.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TensorFusion {}

impl Block for TensorFusion {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 2, "tensor_fusion")?;
        let mut acc = inputs[0];
        for (i, &x) in inputs.iter().enumerate().skip(1) {
            let op = OuterProduct { prepend_one_a: i == 1, prepend_one_b: true };
            acc = b.add(&format!("outer{i}"), Op::OuterProduct(op), &[acc, x])?;
        }
        Ok(acc)
    }
}

/// `low_rank_tensor_fusion: {out: 200, rank: 40}` (LRTF, MultiBench `LowRankTensorFusion`): per modality
/// `z = [1, x]` and `F = z W_k` with `W_k [r, d+1, o]` (a broadcast batched matmul giving `[r, B, o]`); the
/// product of all `F`; then `w [1, r]` times it over the rank axis plus a bias. The factors, `w` and the bias
/// live outside the parameter registry, as in MultiBench.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LowRankTensorFusion {
    pub out: usize,
    pub rank: usize,
}

impl Block for LowRankTensorFusion {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 2, "low_rank_tensor_fusion")?;
        let xs = flat_inputs(b, inputs)?;
        let batch = b.shape(xs[0])[0];
        let (r, o) = (self.rank, self.out);
        if r == 0 || o == 0 {
            return Err(b.error("low_rank_tensor_fusion", "`rank` and `out` must be positive"));
        }
        // MultiBench builds the column of ones with torch.ones each call: a fill kernel we count as a buffer.
        let ones = b.weight("ones", &[batch, 1], WeightKind::Buffer)?;
        let mut product: Option<NodeIndex> = None;
        for (i, &x) in xs.iter().enumerate() {
            let d = width(b, x);
            let z = b.concat(&format!("z{i}"), &[ones, x], 1)?;
            let factor = b.weight(&format!("factor{i}"), &[r, d + 1, o], WeightKind::Unregistered)?;
            let f = b.matmul(&format!("project{i}"), z, factor, false, 1.0)?;
            product = Some(match product {
                None => f,
                Some(p) => b.binary(&format!("product{i}"), BinaryKind::Mul, p, f)?,
            });
        }
        let p = b.permute("rank_last", product.expect("two inputs"), &[1, 0, 2])?;
        let w = b.weight("fusion_weights", &[1, r], WeightKind::Unregistered)?;
        let s = b.matmul("rank_sum", w, p, false, 1.0)?;
        let s = b.reshape("squeeze", s, &[batch, o])?;
        let bias = b.weight("fusion_bias", &[1, o], WeightKind::Unregistered)?;
        b.binary("bias", BinaryKind::Add, s, bias)
    }
}

/// `multiplicative_interactions: {out: 240}` (MultiBench `MultiplicativeInteractions2Modal`, `matrix` form):
/// a hypernetwork `W' = m1 W + V`, `b' = m1 U + b`, output `m2 W' + b'`. Parameters `n m o + n o + m o + o`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiplicativeInteractions {
    pub out: usize,
    /// Flatten inputs from axis 1 first (MultiBench's `flatten` option).
    #[serde(default)]
    pub flatten: bool,
}

impl Block for MultiplicativeInteractions {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let [m1, m2] = inputs else {
            return Err(b.error("multiplicative_interactions", format!("fuses exactly 2 modalities, got {}", inputs.len())));
        };
        let (m1, m2) = if self.flatten { (b.flatten("flatten0", *m1, 1)?, b.flatten("flatten1", *m2, 1)?) } else { (*m1, *m2) };
        for x in [m1, m2] {
            if b.shape(x).len() != 2 {
                return Err(b.error("multiplicative_interactions", format!("expects [B, d] inputs, got {} (set `flatten: true`)", fmt_shape(b.shape(x)))));
            }
        }
        let (batch, n, m, o) = (b.shape(m1)[0], width(b, m1), width(b, m2), self.out);
        let w = b.weight("W", &[n, m * o], WeightKind::Param)?;
        let u = b.weight("U", &[n, o], WeightKind::Param)?;
        let v = b.weight("V", &[m, o], WeightKind::Param)?;
        let bias = b.weight("b", &[o], WeightKind::Param)?;
        // einsum('bn,nmd->bmd') is one GEMM [B, n] x [n, m o].
        let wp = b.matmul("hyper_W", m1, w, false, 1.0)?;
        let wp = b.reshape("hyper_W_view", wp, &[batch, m, o])?;
        let wp = b.binary("hyper_W_plus_V", BinaryKind::Add, wp, v)?;
        let bp = b.matmul("hyper_b", m1, u, false, 1.0)?;
        let bp = b.binary("hyper_b_plus_b", BinaryKind::Add, bp, bias)?;
        // einsum('bm,bmd->bd') is a batched GEMV.
        let m2r = b.reshape("m2_row", m2, &[batch, 1, m])?;
        let y = b.matmul("apply", m2r, wp, false, 1.0)?;
        let y = b.reshape("apply_view", y, &[batch, o])?;
        b.binary("plus_b_prime", BinaryKind::Add, y, bp)
    }
}

/// `attention_fusion: {out: 128}` (Customization `AttentionFusion`): per modality Linear d_i→o; concat →
/// Linear n o→n; softmax over modalities; weighted sum of the projected vectors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionFusion {
    pub out: usize,
}

impl Block for AttentionFusion {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 2, "attention_fusion")?;
        let xs = flat_inputs(b, inputs)?;
        let n = xs.len();
        let batch = b.shape(xs[0])[0];
        let proj: Vec<NodeIndex> = xs.iter().enumerate().map(|(i, &x)| b.linear(&format!("project{i}"), x, self.out, true)).collect::<BuildResult<_>>()?;
        let cat = b.concat("concat", &proj, 1)?;
        let logits = b.linear("score", cat, n, true)?;
        let weights = b.softmax("softmax", logits, -1)?;
        let stacked = b.stack("stack", &proj, 1)?;
        let wr = b.reshape("weights_row", weights, &[batch, 1, n])?;
        let y = b.matmul("weighted_sum", wr, stacked, false, 1.0)?;
        b.reshape("out", y, &[batch, self.out])
    }
}

/// `film: {hidden: 64}`: feature-wise modulation of the first modality, `gamma(m2) * m1 + beta(m_last)`, with
/// `gamma` and `beta` two MLPs d→hidden→d_1 (Customization's FiLM; beta reads the third modality when there
/// is one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Film {
    pub hidden: usize,
}

impl Block for Film {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        if inputs.len() != 2 && inputs.len() != 3 {
            return Err(b.error("film", format!("fuses 2 or 3 modalities, got {}", inputs.len())));
        }
        let xs = flat_inputs(b, inputs)?;
        let d1 = width(b, xs[0]);
        let mlp = Mlp { hidden: vec![self.hidden], out: d1, activation: serde_yaml::Value::String("relu".into()), final_activation: false };
        let gamma = b.scope("gamma", |b| mlp.build(b, &[xs[1]]))?;
        let beta = b.scope("beta", |b| mlp.build(b, &[*xs.last().unwrap()]))?;
        let g = b.binary("modulate", BinaryKind::Mul, gamma, xs[0])?;
        b.binary("shift", BinaryKind::Add, g, beta)
    }
}

/// `rnn_fusion: {out: 64}` (Customization `RNNFusion`): every feature of the concatenated modalities becomes
/// one time step of a 2-layer GRU (1 → out); the last step is the output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnFusion {
    pub out: usize,
    #[serde(default = "two")]
    pub layers: usize,
}

fn two() -> usize {
    2
}

impl Block for RnnFusion {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 1, "rnn_fusion")?;
        let xs = flat_inputs(b, inputs)?;
        let cat = if xs.len() == 1 { xs[0] } else { b.concat("concat", &xs, 1)? };
        let (batch, steps) = (b.shape(cat)[0], width(b, cat));
        let seq = b.reshape("as_sequence", cat, &[batch, steps, 1])?;
        let gru = Gru(Recurrent { hidden: self.out, layers: self.layers, time_major: false, output: RecurrentOutput::Last });
        b.scope("gru", |b| gru.build(b, &[seq]))
    }
}

/// `transformer_fusion: {layers: 1, heads: 8}`: the modalities' token sequences `[B, L_i, d]` concatenated
/// along the token axis (so every token attends to every modality), then pre-LN transformer layers
/// (mmFormer's inter-modal transformer is one such layer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerFusion {
    #[serde(default = "one")]
    pub layers: usize,
    pub heads: usize,
    #[serde(default)]
    pub ff: Option<usize>,
    #[serde(default = "gelu")]
    pub activation: String,
}

fn one() -> usize {
    1
}
fn gelu() -> String {
    "gelu".into()
}

impl Block for TransformerFusion {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        at_least(b, inputs, 1, "transformer_fusion")?;
        for &x in inputs {
            if b.shape(x).len() != 3 {
                return Err(b.error("transformer_fusion", format!("expects token sequences [B, L, d], got {}", fmt_shape(b.shape(x)))));
            }
        }
        let mut x = if inputs.len() == 1 { inputs[0] } else { b.concat("tokens", inputs, 1)? };
        let layer = TransformerLayer {
            heads: self.heads,
            ff: self.ff,
            norm: NormPlacement::Pre,
            activation: self.activation.clone(),
            qkv: QkvLayout::Fused,
            qkv_bias: false,
            mask: false,
            norm_kv: false,
            separate_scale: false,
        };
        for i in 0..self.layers {
            x = b.scope(&format!("layer{i}"), |b| transformer_layer(b, x, None, &layer))?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, Workload};

    fn fuse(block: &dyn Block, shapes: &[&[usize]]) -> (Workload, NodeIndex) {
        let mut b = GraphBuilder::new(shapes[0][0]);
        let xs: Vec<NodeIndex> = shapes.iter().enumerate().map(|(i, s)| b.input(&format!("x{i}"), s, DType::F32).unwrap()).collect();
        let y = b.scope("fusion", |b| block.build(b, &xs)).unwrap();
        (b.finish("t", "", vec![y]), y)
    }

    #[test]
    fn lrtf_factor_counts_match_mm_imdb_and_vision_touch() {
        // MM-IMDb LRTF: dims [512, 512] -> 512, rank 128: 67,240,576 unregistered floats (WORKLOADS.md §4.4).
        let (w, y) = fuse(&LowRankTensorFusion { out: 512, rank: 128 }, &[&[1, 512], &[1, 512]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 512]);
        assert_eq!(w.unregistered_params(), 67_240_576);
        assert_eq!(w.params(), 0);
        // Vision & Touch: [256 x4, 32] -> 200, rank 40, batch 64: 8,488,240 (WORKLOADS.md §10.4).
        let (w, y) = fuse(&LowRankTensorFusion { out: 200, rank: 40 }, &[&[64, 256], &[64, 256], &[64, 256], &[64, 256], &[64, 32]]);
        assert_eq!(w.graph[y].output.shape, vec![64, 200]);
        assert_eq!(w.unregistered_params(), 8_488_240);
        // Five projections [64, d+1] x [40, d+1, 200]: 2 * 40 * 64 * (d+1) * 200 FLOPs each.
        let proj: u64 = w.nodes().filter(|(_, n)| n.name.contains("project")).map(|(_, n)| n.cost.flops).sum();
        assert_eq!(proj, 2 * 40 * 64 * 200 * (4 * 257 + 33));
    }

    #[test]
    fn mi2_matrix_parameters_match_av_mnist_variants() {
        // avmnist_tensor_matrix: [24, 96] -> 96: 232,800; multi_interac_matrix: [48, 192] -> 240: 2,269,680.
        let (w, y) = fuse(&MultiplicativeInteractions { out: 96, flatten: true }, &[&[40, 24], &[40, 96]]);
        assert_eq!(w.params(), 232_800);
        assert_eq!(w.graph[y].output.shape, vec![40, 96]);
        let (w, _) = fuse(&MultiplicativeInteractions { out: 240, flatten: false }, &[&[40, 48], &[40, 192]]);
        assert_eq!(w.params(), 2_269_680);
        // The hypernetwork GEMM dominates: 2 B n (m o) FLOPs.
        assert!(w.flops() >= 2 * 40 * 48 * 192 * 240);
    }

    #[test]
    fn tensor_fusion_width_is_product_of_widths_plus_one() {
        // MuJoCo Push `tf`: 8, 8, 64, 16 per step -> 9 * 9 * 65 * 17 = 89,505 (WORKLOADS.md §9.5).
        let (w, y) = fuse(&TensorFusion {}, &[&[1, 16, 8], &[1, 16, 8], &[1, 16, 64], &[1, 16, 16]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 16, 89_505]);
        assert_eq!(w.params(), 0);
    }

    #[test]
    fn attention_fusion_and_film_parameters() {
        // Σ(d_i o + o) + n^2 o + n with d = [256, 768], o = 128, n = 2 (WORKLOADS.md §12.4).
        let (w, y) = fuse(&AttentionFusion { out: 128 }, &[&[1, 256], &[1, 768]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 128]);
        assert_eq!(w.params(), (256 * 128 + 128) + (768 * 128 + 128) + 4 * 128 + 2);
        // FiLM with two MLPs 768 -> 64 -> 256: output keeps the first modality's width.
        let (w, y) = fuse(&Film { hidden: 64 }, &[&[1, 256], &[1, 768]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 256]);
        assert_eq!(w.params(), 2 * ((768 * 64 + 64) + (64 * 256 + 256)));
    }

    #[test]
    fn rnn_fusion_and_concat_linear_and_transformer_fusion() {
        // RNNFusion: 3(o + o^2 + 2o) + 3(2o^2 + 2o) with o = 16 (WORKLOADS.md §12.4).
        let (w, y) = fuse(&RnnFusion { out: 16, layers: 2 }, &[&[1, 5], &[1, 3]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 16]);
        assert_eq!(w.params(), 3 * (16 + 256 + 32) + 3 * (2 * 256 + 32));
        // MuJoCo Push late fusion: 4 x [1, 16, 256] -> [1, 16, 1024] -> Linear 1024 -> 2: 2,050 parameters.
        let (w, y) = fuse(&ConcatLinear { out: 2, axis: -1 }, &[&[1, 16, 256], &[1, 16, 256], &[1, 16, 256], &[1, 16, 256]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 16, 2]);
        assert_eq!(w.params(), 2_050);
        // Four modalities of 512 tokens -> 2048 tokens through one mmFormer-style layer: 5,250,048
        // (WORKLOADS.md §8.3 steps 4-5; the positional tables are counted apart).
        let t = TransformerFusion { layers: 1, heads: 8, ff: Some(4096), activation: "gelu".into() };
        let (w, y) = fuse(&t, &[&[1, 512, 512], &[1, 512, 512], &[1, 512, 512], &[1, 512, 512]]);
        assert_eq!(w.graph[y].output.shape, vec![1, 2048, 512]);
        assert_eq!(w.params(), 5_250_048);
    }

    #[test]
    fn wrong_arity_is_explained() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 4], DType::F32).unwrap();
        let e = MultiplicativeInteractions { out: 2, flatten: false }.build(&mut b, &[x]).unwrap_err();
        assert!(e.message.contains("exactly 2"), "{}", e.message);
        let e = TensorFusion {}.build(&mut b, &[x]).unwrap_err();
        assert!(e.message.contains("at least 2"), "{}", e.message);
    }
}
