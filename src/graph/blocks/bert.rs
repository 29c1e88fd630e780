//! BERT-family text encoders as Hugging Face runs them: `bert` (`bert-base-uncased`, Sarcasm and
//! Customization, WORKLOADS.md §6.3, §12.3) and `albert` (`albert-base-v2`, MM-IMDb, §4.3). Input: int64 token
//! ids `[B, L]`.
//!
//! Embeddings, in HF's order: word gather, token-type gather, add, position gather, add, LayerNorm. HF gathers
//! positions and token types from registered id buffers (`position_ids[:, :L]`, zero token types); we do the
//! same with integer buffers (`arange` and `zeros`), so each gather is the kernel it is and each full table
//! counts as parameters.
//! Then `layers` post-LayerNorm transformer layers (separate Q, K, V; [`transformer_layer`]). ALBERT factorizes
//! the embedding (width 128, then Linear 128→768) and applies ONE layer 12 times: the repetitions share a weight
//! group, so parameters count once and FLOPs twelve times. The pooler (Linear on position 0, tanh) runs inside
//! the model's forward even when its result is unused, so it is always built unless `pooler: false`.
//!
//! `output:` `cls` (position 0 of the last hidden state, `[B, d]`), `last_token` (position −1, MM-IMDb),
//! `sequence` (`[B, L, d]`) or `pooled` (the pooler's output). Sizes are configurable (`layers`, `hidden`,
//! `heads`, `ff`, `vocab`, `positions`, `type_vocab` (0: no token-type table), `embedding`, `activation`,
//! `pooler`), so DistilBERT-like variants are expressible.

use super::transformer::{transformer_layer, NormPlacement, QkvLayout, TransformerLayer};
use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{BinaryKind, Embedding, UnaryFn, WeightInit};
use crate::graph::tensor::{fmt_shape, DType};
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// What a text encoder returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TextOutput {
    /// The last hidden state at position 0 (`[CLS]`).
    #[default]
    Cls,
    /// The last hidden state at the last position (MM-IMDb's ALBERT feature).
    LastToken,
    /// The whole last hidden state `[B, L, d]`.
    Sequence,
    /// The pooler output: tanh(Linear(position 0)).
    Pooled,
}

/// Parameters of `bert` and `albert`; unset sizes take the family's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextEncoderParams {
    pub output: TextOutput,
    pub layers: Option<usize>,
    pub hidden: Option<usize>,
    pub heads: Option<usize>,
    pub ff: Option<usize>,
    pub vocab: Option<usize>,
    pub positions: Option<usize>,
    /// Token-type (segment) table rows; 0 leaves the table out (DistilBERT).
    pub type_vocab: Option<usize>,
    /// Embedding width when it differs from `hidden` (ALBERT's factorized embedding), projected by a Linear.
    pub embedding: Option<usize>,
    /// `gelu` (exact, BERT), `gelu_tanh` (`gelu_new`, ALBERT) or `relu`.
    pub activation: Option<String>,
    /// Build the pooler (it runs in HF's forward even when unused).
    pub pooler: Option<bool>,
    /// Add an attention mask to the scores in every layer (an attention mask was passed).
    pub mask: bool,
}

/// `bert: {output: cls}`: defaults are `bert-base-uncased`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Bert(pub TextEncoderParams);

/// `albert: {output: last_token}`: defaults are `albert-base-v2`; the layer is shared by all repetitions.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Albert(pub TextEncoderParams);

/// A fully resolved text encoder.
#[derive(Debug, Clone)]
struct TextEncoder {
    output: TextOutput,
    layers: usize,
    hidden: usize,
    heads: usize,
    ff: usize,
    vocab: usize,
    positions: usize,
    type_vocab: usize,
    embedding: Option<usize>,
    activation: String,
    pooler: bool,
    mask: bool,
    shared_layers: bool,
}

impl TextEncoderParams {
    /// Fills unset sizes with the 12-layer, 768-wide base configuration and the family's own choices.
    fn resolve(&self, vocab: usize, embedding: Option<usize>, activation: &str, shared_layers: bool) -> TextEncoder {
        TextEncoder {
            output: self.output,
            layers: self.layers.unwrap_or(12),
            hidden: self.hidden.unwrap_or(768),
            heads: self.heads.unwrap_or(12),
            ff: self.ff.unwrap_or(3072),
            vocab: self.vocab.unwrap_or(vocab),
            positions: self.positions.unwrap_or(512),
            type_vocab: self.type_vocab.unwrap_or(2),
            embedding: self.embedding.or(embedding),
            activation: self.activation.clone().unwrap_or_else(|| activation.to_string()),
            pooler: self.pooler.unwrap_or(true),
            mask: self.mask,
            shared_layers,
        }
    }
}

impl Block for Bert {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let ids = one_input(b, inputs, "bert")?;
        self.0.resolve(30522, None, "gelu", false).build(b, ids, "bert")
    }
}

impl Block for Albert {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let ids = one_input(b, inputs, "albert")?;
        self.0.resolve(30000, Some(128), "gelu_tanh", true).build(b, ids, "albert")
    }
}

impl TextEncoder {
    fn build(&self, b: &mut GraphBuilder, ids: NodeIndex, what: &str) -> BuildResult<NodeIndex> {
        let (batch, len) = match (b.info(ids).dtype, b.shape(ids)) {
            (DType::I64, [bb, l]) => (*bb, *l),
            (dtype, shape) => return Err(b.error(what, format!("expects int64 token ids [B, L], got {dtype:?} {}", fmt_shape(shape)))),
        };
        if len > self.positions {
            return Err(b.error(what, format!("{len} tokens exceed the {} positions", self.positions)));
        }
        let mut x = b.scope("embeddings", |b| self.embeddings(b, ids))?;
        let layer = TransformerLayer {
            heads: self.heads,
            ff: Some(self.ff),
            norm: NormPlacement::Post,
            activation: self.activation.clone(),
            qkv: QkvLayout::Separate,
            qkv_bias: true,
            mask: self.mask,
            norm_kv: false,
            // Hugging Face's eager attention divides the scores by sqrt(d_head) after the GEMM.
            separate_scale: true,
        };
        let group = b.qualified("layer");
        for i in 0..self.layers {
            x = b.scope(&format!("layer{i}"), |b| {
                if self.shared_layers {
                    b.shared(&group, |b| transformer_layer(b, x, None, &layer))
                } else {
                    transformer_layer(b, x, None, &layer)
                }
            })?;
        }
        // HF takes `hidden[:, 0]` for the pooler; the same selection serves `output: cls`.
        let needs_first = self.pooler || self.output == TextOutput::Cls;
        let first = if needs_first { Some(self.position(b, x, "first_token", 0, batch)?) } else { None };
        let pooled = match first {
            Some(f) if self.pooler => Some(b.scope("pooler", |b| {
                let d = b.linear("dense", f, self.hidden, true)?;
                b.unary("tanh", UnaryFn::Tanh, d)
            })?),
            _ => None,
        };
        match self.output {
            TextOutput::Sequence => Ok(x),
            TextOutput::Cls => Ok(first.expect("built for cls")),
            TextOutput::LastToken => self.position(b, x, "last_token", -1, batch),
            TextOutput::Pooled => pooled.ok_or_else(|| b.error(what, "`output: pooled` needs the pooler")),
        }
    }

    /// Word, token-type and position gathers, their sum, LayerNorm, and ALBERT's projection to `hidden`.
    fn embeddings(&self, b: &mut GraphBuilder, ids: NodeIndex) -> BuildResult<NodeIndex> {
        let width = self.embedding.unwrap_or(self.hidden);
        let gather = |b: &mut GraphBuilder, name: &str, vocab: usize, ids: NodeIndex| {
            b.add(name, Op::Embedding(Embedding { vocab, dim: width }), &[ids])
        };
        let (batch, len) = (b.shape(ids)[0], b.shape(ids)[1]);
        let mut x = gather(b, "word", self.vocab, ids)?;
        if self.type_vocab > 0 {
            // HF expands its registered all-zero token-type buffer to [B, L].
            let type_ids = b.id_buffer("token_type_ids", &[batch, len], WeightInit::Zeros)?;
            let types = gather(b, "token_type", self.type_vocab, type_ids)?;
            x = b.binary("add_token_type", BinaryKind::Add, x, types)?;
        }
        // HF slices its registered `position_ids` buffer (0..positions) to the sequence length.
        let position_ids = b.id_buffer("position_ids", &[1, len], WeightInit::Arange)?;
        let positions = gather(b, "position", self.positions, position_ids)?;
        x = b.binary("add_position", BinaryKind::Add, x, positions)?;
        x = b.layer_norm("norm", x)?;
        if width != self.hidden {
            x = b.linear("project", x, self.hidden, true)?;
        }
        Ok(x)
    }

    /// The hidden state at one position, `[B, d]`.
    fn position(&self, b: &mut GraphBuilder, x: NodeIndex, name: &str, index: i64, batch: usize) -> BuildResult<NodeIndex> {
        b.scope(name, |b| {
            let end = if index == -1 { None } else { Some(index + 1) };
            let s = b.slice("slice", x, 1, index, end)?;
            b.reshape("squeeze", s, &[batch, self.hidden])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{build, build_error, expect, macs};
    use crate::graph::workload::Workload;
    use crate::graph::DType;

    fn text(name: &str, params: &str, batch: usize, len: usize) -> (Workload, Vec<usize>) {
        build(name, params, &[batch, len], DType::I64)
    }

    #[test]
    fn bert_base_has_109_482_240_parameters() {
        // HF `bert-base-uncased`: embeddings 30522·768 + 512·768 + 2·768 + 1536, 12 layers of 7,087,872,
        // pooler 590,592 (WORKLOADS.md §6.3, §14).
        expect("bert", "{}", &[1, 15], DType::I64, &[1, 768], 109_482_240);
    }

    #[test]
    fn bert_outputs() {
        assert_eq!(text("bert", "{output: sequence}", 2, 15).1, vec![2, 15, 768]);
        assert_eq!(text("bert", "{output: last_token}", 2, 15).1, vec![2, 768]);
        assert_eq!(text("bert", "{output: pooled}", 2, 15).1, vec![2, 768]);
    }

    #[test]
    fn distilbert_configuration_has_66_362_880_parameters() {
        // DistilBERT-base: 6 layers, no token types, no pooler (WORKLOADS.md §12.3).
        expect("bert", "{layers: 6, type_vocab: 0, pooler: false}", &[1, 20], DType::I64, &[1, 768], 66_362_880);
    }

    #[test]
    fn bert_embeddings_and_pooler_are_executed_kernels() {
        // 3 gathers, 2 adds, LayerNorm; per layer 6 Linear, 3 head-split + 1 merge permute copies, 2 batched
        // matmuls, the separate 1/sqrt(d) scale, softmax, 2 residual adds, 2 LayerNorms, GELU = 19; pooler
        // Linear + tanh. With B = 1 the position-0 selection is a view.
        let (w, _) = text("bert", "{}", 1, 15);
        assert_eq!(w.kernels(), 6 + 12 * 19 + 2);
    }

    #[test]
    fn bert_flops_hand_count() {
        // MACs per layer at L tokens: 4 d² L (Q, K, V, output) + 2 d ff L (FFN) + 2 L² d (scores, context);
        // pooler d² per sample. Nothing else in BERT is a GEMM.
        let (l, d, ff) = (128u64, 768u64, 3072u64);
        let (w, _) = text("bert", "{}", 1, 128);
        let per_layer = 4 * d * d * l + 2 * d * ff * l + 2 * l * l * d;
        assert_eq!(macs(&w), 12 * per_layer + d * d);
        // Beyond 2 x MACs (Ld = 98,304 token features, 12 x L² = 196,608 scores, L x ff = 393,216 FFN units):
        // embeddings 2 adds + LayerNorm (8) on Ld; per layer the 4 projection biases and the FC2 bias on Ld,
        // FC1 bias and GELU (8) on L x ff, the score scale (2) and softmax (5) per score, 2 residual adds and
        // 2 LayerNorms on Ld; pooler bias + tanh (5) on d.
        let (ld, scores, units) = (98_304, 196_608, 393_216);
        let embeddings = 2 * ld + 8 * ld;
        let layer = 5 * ld + 9 * units + 7 * scores + 2 * ld + 16 * ld;
        let pooler = d + 5 * d;
        assert_eq!(w.flops(), 2 * macs(&w) + embeddings + 12 * layer + pooler);
    }

    #[test]
    fn albert_base_v2_has_11_683_584_parameters() {
        // Embeddings 30000·128 + 512·128 + 2·128 + 256, projection 128·768 + 768, one layer 7,087,872 counted
        // once, pooler 590,592 (WORKLOADS.md §4.3).
        expect("albert", "{output: last_token}", &[1, 200], DType::I64, &[1, 768], 11_683_584);
    }

    #[test]
    fn albert_shares_parameters_but_runs_every_layer() {
        let (w12, _) = text("albert", "{}", 1, 64);
        let (w1, _) = text("albert", "{layers: 1}", 1, 64);
        assert_eq!(w12.params(), w1.params());
        // Eleven more applications of the same layer, each with the FLOPs of a standalone layer.
        let (bert1, _) = text("bert", "{layers: 1, pooler: false, output: sequence, activation: gelu_tanh}", 1, 64);
        let (bert0, _) = text("bert", "{layers: 0, pooler: false, output: sequence}", 1, 64);
        let layer_flops = bert1.flops() - bert0.flops();
        assert_eq!(w12.flops() - w1.flops(), 11 * layer_flops);
        assert_eq!(w12.kernels() - w1.kernels(), 11 * 19);
    }

    #[test]
    fn too_long_or_float_inputs_are_rejected() {
        assert!(build_error("bert", "{}", &[1, 513], DType::I64).contains("exceed the 512 positions"));
        assert!(build_error("bert", "{}", &[1, 12], DType::F32).contains("int64 token ids"));
    }
}
