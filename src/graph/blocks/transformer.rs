//! Multi-head attention and transformer encoder layers, as eager PyTorch executes them: projections are
//! GEMMs, heads are split by a reshape and a permute copy, scores are a batched GEMM with the 1/sqrt(d_head)
//! scale fused (or, with `separate_scale`, a multiply of its own), an optional additive mask is one
//! elementwise add, then softmax, the context GEMM, the merge permute and the output projection. Used
//! directly from YAML (`attention`, `transformer_layer`) and by the backbones (BERT, ALBERT, mmFormer, MulT,
//! TransFuser's GPT).
//!
//! Self-attention takes one input; cross-attention takes two (`[query source, key/value source]`).
//! Sequences are `[B, L, d]` (batch first).

use super::Block;
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::{BinaryKind, UnaryFn, WeightKind};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// How Q, K and V are projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum QkvLayout {
    /// Three Linear layers (Hugging Face BERT/ALBERT, minGPT).
    #[default]
    Separate,
    /// One Linear to 3d (or d + 2d for cross-attention), split by views (`nn.MultiheadAttention`, timm, mmFormer).
    Fused,
}

/// `attention: {heads: 12}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attention {
    pub heads: usize,
    #[serde(default)]
    pub qkv: QkvLayout,
    #[serde(default = "yes")]
    pub qkv_bias: bool,
    #[serde(default = "yes")]
    pub out_bias: bool,
    /// Add a mask to the scores (HF's extended attention mask, causal masks): one elementwise add.
    #[serde(default)]
    pub mask: bool,
    /// Scale the scores by their own elementwise pass, as `(q @ k.transpose(-2, -1)) * scale` runs in eager
    /// PyTorch (timm-style attention, mmFormer), instead of folding the scale into the score GEMM.
    #[serde(default)]
    pub separate_scale: bool,
}

fn yes() -> bool {
    true
}

/// Where LayerNorm sits in a transformer layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NormPlacement {
    /// `x = LN(x + f(x))` (BERT, ALBERT, PyTorch's default `TransformerEncoderLayer`).
    #[default]
    Post,
    /// `x = x + f(LN(x))` (GPT, mmFormer, MulT).
    Pre,
}

/// `transformer_layer: {heads: 12, ff: 3072, activation: gelu}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerLayer {
    pub heads: usize,
    /// Feed-forward width (default 4 d).
    #[serde(default)]
    pub ff: Option<usize>,
    #[serde(default)]
    pub norm: NormPlacement,
    /// `relu`, `gelu` or `gelu_tanh`.
    #[serde(default = "gelu")]
    pub activation: String,
    #[serde(default)]
    pub qkv: QkvLayout,
    #[serde(default = "yes")]
    pub qkv_bias: bool,
    #[serde(default)]
    pub mask: bool,
    /// Pre-LN cross-attention normalizes the key/value source too (MulT).
    #[serde(default)]
    pub norm_kv: bool,
    /// See [`Attention::separate_scale`].
    #[serde(default)]
    pub separate_scale: bool,
}

fn gelu() -> String {
    "gelu".into()
}

impl TransformerLayer {
    pub fn attention(&self) -> Attention {
        Attention {
            heads: self.heads,
            qkv: self.qkv,
            qkv_bias: self.qkv_bias,
            out_bias: true,
            mask: self.mask,
            separate_scale: self.separate_scale,
        }
    }
}

/// `(B, L, d)` of a sequence, or an error naming `what`.
pub(super) fn seq_dims(b: &GraphBuilder, x: NodeIndex, what: &str) -> BuildResult<(usize, usize, usize)> {
    match b.shape(x) {
        [bb, l, d] => Ok((*bb, *l, *d)),
        s => Err(b.error(what, format!("expects a sequence [B, L, d], got {}", fmt_shape(s)))),
    }
}

/// Splits `[B, L, d]` into heads `[B, h, L, d/h]` (reshape, then a permute copy).
fn split_heads(b: &mut GraphBuilder, name: &str, x: NodeIndex, heads: usize) -> BuildResult<NodeIndex> {
    let (bb, l, d) = seq_dims(b, x, name)?;
    let r = b.reshape(&format!("{name}_heads"), x, &[bb, l, heads, d / heads])?;
    b.permute(&format!("{name}_perm"), r, &[0, 2, 1, 3])
}

/// Multi-head attention; `kv` is the key/value source (`None` for self-attention).
pub fn attention(b: &mut GraphBuilder, x: NodeIndex, kv: Option<NodeIndex>, a: &Attention) -> BuildResult<NodeIndex> {
    let (bb, l, d) = seq_dims(b, x, "attention")?;
    let src = kv.unwrap_or(x);
    let (sb, s_len, sd) = seq_dims(b, src, "attention")?;
    if sb != bb || sd != d {
        return Err(b.error("attention", format!("query {} and key/value {} differ in batch or width", fmt_shape(b.shape(x)), fmt_shape(b.shape(src)))));
    }
    if a.heads == 0 || d % a.heads != 0 {
        return Err(b.error("attention", format!("width {d} is not divisible by {} heads", a.heads)));
    }
    let dh = d / a.heads;
    let (q, k, v) = match (a.qkv, kv) {
        (QkvLayout::Separate, _) => {
            let q = b.linear("q", x, d, a.qkv_bias)?;
            let k = b.linear("k", src, d, a.qkv_bias)?;
            let v = b.linear("v", src, d, a.qkv_bias)?;
            (split_heads(b, "q", q, a.heads)?, split_heads(b, "k", k, a.heads)?, split_heads(b, "v", v, a.heads)?)
        }
        (QkvLayout::Fused, None) => {
            // [B, L, 3d] -> [B, L, 3, h, dh] -> [3, B, h, L, dh]; q, k, v are contiguous blocks of it.
            let qkv = b.linear("qkv", x, 3 * d, a.qkv_bias)?;
            let r = b.reshape("qkv_heads", qkv, &[bb, l, 3, a.heads, dh])?;
            let p = b.permute("qkv_perm", r, &[2, 0, 3, 1, 4])?;
            let mut parts = Vec::new();
            for (i, n) in ["q", "k", "v"].iter().enumerate() {
                let s = b.slice(&format!("{n}_slice"), p, 0, i as i64, Some(i as i64 + 1))?;
                parts.push(b.reshape(&format!("{n}_view"), s, &[bb, a.heads, l, dh])?);
            }
            (parts[0], parts[1], parts[2])
        }
        (QkvLayout::Fused, Some(_)) => {
            let q = b.linear("q", x, d, a.qkv_bias)?;
            let kvp = b.linear("kv", src, 2 * d, a.qkv_bias)?;
            let r = b.reshape("kv_heads", kvp, &[bb, s_len, 2, a.heads, dh])?;
            let p = b.permute("kv_perm", r, &[2, 0, 3, 1, 4])?;
            let ks = b.slice("k_slice", p, 0, 0, Some(1))?;
            let vs = b.slice("v_slice", p, 0, 1, Some(2))?;
            let k = b.reshape("k_view", ks, &[bb, a.heads, s_len, dh])?;
            let v = b.reshape("v_view", vs, &[bb, a.heads, s_len, dh])?;
            (split_heads(b, "q", q, a.heads)?, k, v)
        }
    };
    let scale = 1.0 / (dh as f32).sqrt();
    let mut scores = if a.separate_scale {
        let raw = b.matmul("scores", q, k, true, 1.0)?;
        b.unary("scale", UnaryFn::Scale { factor: scale, offset: 0.0 }, raw)?
    } else {
        b.matmul("scores", q, k, true, scale)?
    };
    if a.mask {
        let m = b.weight("mask", &[1, 1, l, s_len], WeightKind::Buffer)?;
        scores = b.binary("masked", BinaryKind::Add, scores, m)?;
    }
    let probs = b.softmax("softmax", scores, -1)?;
    let ctx = b.matmul("context", probs, v, false, 1.0)?;
    let merged = b.permute("merge_perm", ctx, &[0, 2, 1, 3])?;
    let flat = b.reshape("merge", merged, &[bb, l, d])?;
    b.linear("out", flat, d, a.out_bias)
}

fn activation(b: &GraphBuilder, name: &str) -> BuildResult<UnaryFn> {
    match name {
        "relu" => Ok(UnaryFn::Relu),
        "gelu" => Ok(UnaryFn::Gelu),
        "gelu_tanh" => Ok(UnaryFn::GeluTanh),
        other => Err(b.error("transformer_layer", format!("unknown activation `{other}` (relu, gelu, gelu_tanh)"))),
    }
}

/// One transformer encoder layer (self-attention, or cross-attention when `kv` is given) with its FFN.
pub fn transformer_layer(b: &mut GraphBuilder, x: NodeIndex, kv: Option<NodeIndex>, t: &TransformerLayer) -> BuildResult<NodeIndex> {
    let (_, _, d) = seq_dims(b, x, "transformer_layer")?;
    let ff = t.ff.unwrap_or(4 * d);
    let act = activation(b, &t.activation)?;
    let attn = t.attention();
    match t.norm {
        NormPlacement::Post => {
            let a = b.scope("attn", |b| attention(b, x, kv, &attn))?;
            let r1 = b.binary("attn_residual", BinaryKind::Add, x, a)?;
            let x1 = b.layer_norm("attn_norm", r1)?;
            let f = ffn(b, x1, ff, d, act)?;
            let r2 = b.binary("ffn_residual", BinaryKind::Add, x1, f)?;
            b.layer_norm("ffn_norm", r2)
        }
        NormPlacement::Pre => {
            let n1 = b.layer_norm("attn_norm", x)?;
            let kv_n = match kv {
                Some(s) if t.norm_kv => Some(b.layer_norm("kv_norm", s)?),
                other => other,
            };
            let a = b.scope("attn", |b| attention(b, n1, kv_n, &attn))?;
            let x1 = b.binary("attn_residual", BinaryKind::Add, x, a)?;
            let n2 = b.layer_norm("ffn_norm", x1)?;
            let f = ffn(b, n2, ff, d, act)?;
            b.binary("ffn_residual", BinaryKind::Add, x1, f)
        }
    }
}

fn ffn(b: &mut GraphBuilder, x: NodeIndex, ff: usize, d: usize, act: UnaryFn) -> BuildResult<NodeIndex> {
    b.scope("ffn", |b| {
        let h = b.linear("fc1", x, ff, true)?;
        let a = b.unary("act", act, h)?;
        b.linear("fc2", a, d, true)
    })
}

fn inputs_1_or_2(b: &GraphBuilder, inputs: &[NodeIndex], what: &str) -> BuildResult<(NodeIndex, Option<NodeIndex>)> {
    match inputs {
        [x] => Ok((*x, None)),
        [x, kv] => Ok((*x, Some(*kv))),
        _ => Err(b.error(what, format!("`{what}` takes 1 input (self-attention) or 2 (query source, key/value source), got {}", inputs.len()))),
    }
}

impl Block for Attention {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let (x, kv) = inputs_1_or_2(b, inputs, "attention")?;
        attention(b, x, kv, self)
    }
}

impl Block for TransformerLayer {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let (x, kv) = inputs_1_or_2(b, inputs, "transformer_layer")?;
        transformer_layer(b, x, kv, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::DType;

    fn layer(heads: usize, ff: usize, norm: NormPlacement) -> TransformerLayer {
        TransformerLayer { heads, ff: Some(ff), norm, activation: "gelu".into(), qkv: QkvLayout::Separate, qkv_bias: true, mask: false, norm_kv: false, separate_scale: false }
    }

    #[test]
    fn bert_layer_has_7_087_872_parameters() {
        // One bert-base-uncased encoder layer: 4 (768^2 + 768) + 2 * 768 * 3072 + 3072 + 768 + 2 * 1536.
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 15, 768], DType::F32).unwrap();
        let y = transformer_layer(&mut b, x, None, &layer(12, 3072, NormPlacement::Post)).unwrap();
        assert_eq!(b.shape(y), &[1, 15, 768]);
        let w = b.finish("t", "", vec![y]);
        assert_eq!(w.params(), 7_087_872);
    }

    #[test]
    fn attention_flops_hand_count() {
        // B 2, L 10, d 64, 4 heads: projections 4 * 2*B*L*d*d (+ biases), scores and context 2 * 2*B*h*L*L*dh,
        // softmax 5 per score.
        let mut b = GraphBuilder::new(2);
        let x = b.input("x", &[2, 10, 64], DType::F32).unwrap();
        let a = Attention { heads: 4, qkv: QkvLayout::Separate, qkv_bias: true, out_bias: true, mask: false, separate_scale: false };
        attention(&mut b, x, None, &a).unwrap();
        let w = b.finish("t", "", vec![]);
        let (bb, l, d, h) = (2u64, 10u64, 64u64, 4u64);
        let proj = 4 * (2 * bb * l * d * d + bb * l * d);
        let attn = 2 * (2 * bb * h * l * l * (d / h));
        let softmax = 5 * bb * h * l * l;
        assert_eq!(w.flops(), proj + attn + softmax);
        assert_eq!(w.params(), 4 * (d * d + d));
    }

    #[test]
    fn fused_qkv_and_cross_attention_shapes() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 512, 512], DType::F32).unwrap();
        let kv = b.input("kv", &[1, 7, 512], DType::F32).unwrap();
        let f = Attention { heads: 8, qkv: QkvLayout::Fused, qkv_bias: false, out_bias: true, mask: false, separate_scale: false };
        let y = b.scope("self", |b| attention(b, x, None, &f)).unwrap();
        assert_eq!(b.shape(y), &[1, 512, 512]);
        let c = b.scope("cross", |b| attention(b, x, Some(kv), &f)).unwrap();
        assert_eq!(b.shape(c), &[1, 512, 512]);
        // mmFormer self-attention parameters: QKV 512 -> 1536 without bias, out 512 -> 512 with bias.
        let w = b.finish("t", "", vec![]);
        let self_params: u64 = w.nodes().filter(|(_, n)| n.name.starts_with("self/")).map(|(_, n)| n.cost.params).sum();
        assert_eq!(self_params, 786_432 + 262_656);
    }

    #[test]
    fn separate_scale_is_one_more_pass_over_the_scores() {
        // `(q @ k^T) * scale` (timm, mmFormer): same parameters, one more kernel, and the `scale` op's two
        // FLOPs for each of the 2 heads x 16 x 16 scores.
        let build = |separate_scale: bool| {
            let mut b = GraphBuilder::new(1);
            let x = b.input("x", &[1, 16, 32], DType::F32).unwrap();
            let a = Attention { heads: 2, qkv: QkvLayout::Fused, qkv_bias: false, out_bias: true, mask: false, separate_scale };
            attention(&mut b, x, None, &a).unwrap();
            b.finish("t", "", vec![])
        };
        let (fused, separate) = (build(false), build(true));
        assert_eq!(separate.kernels(), fused.kernels() + 1);
        assert_eq!(separate.flops(), fused.flops() + 2 * (2 * 16 * 16));
        assert_eq!(separate.params(), fused.params());
    }

    #[test]
    fn bad_head_count_is_reported() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 4, 10], DType::F32).unwrap();
        let a = Attention { heads: 3, qkv: QkvLayout::Separate, qkv_bias: true, out_bias: true, mask: false, separate_scale: false };
        assert!(attention(&mut b, x, None, &a).unwrap_err().message.contains("not divisible"));
    }
}
