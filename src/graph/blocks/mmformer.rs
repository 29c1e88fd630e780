//! mmFormer (WORKLOADS.md §8), the network of MMBench's Medical Segmentation workload, as the blocks that
//! `graphs/medical-seg.yaml` wires together. A node has one output, while mmFormer's encoder hands five
//! tensors (the skips x1..x4 and x5) to the rest of the network, so the network is cut into blocks whose
//! outputs are exactly the tensors other parts consume:
//!
//! * `pn_conv3d` — PN-Conv (§8.1): InstanceNorm3d without affine → LeakyReLU(0.2) → reflect padding as its
//!   own pass (3³ only) → Conv3d with bias;
//! * `mmformer_level` — one level of a modality's 3-D residual CNN (§8.3); five items make one encoder, and
//!   [`encoder`] builds the whole stack from Rust;
//! * `mmformer_tokens`, `mmformer_transformer`, `mmformer_untokens` — the intra-modal transformer (§8.3: token
//!   projection, tokens, positional table, one pre-LN layer, back to a volume), in three steps because
//!   MMBench runs each step for all four modalities before the next; `mmformer_transformer` with four
//!   positional tables is also the inter-modal transformer (§8.4 steps 3–4);
//! * `mmformer_mask` — `MaskModal` (§8.4 step 1): stack the modalities' tensors and zero the unavailable ones;
//! * `mmformer_inter_tokens` — §8.4 step 2: split the masked stack per modality, to tokens, concatenate;
//! * `mmformer_decoder` — the fused decoder (§8.5): region-fusion blocks, trilinear upsampling and the
//!   auxiliary outputs, which inference computes too.
//!
//! Every op is one kernel of eager PyTorch: reflect padding is a pass of its own, InstanceNorm a real
//! reduction, residual adds separate ops, and `.permute(..).contiguous()` a copy.

use super::transformer::{seq_dims, transformer_layer, NormPlacement, QkvLayout, TransformerLayer};
use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::{BinaryKind, InstanceNorm, Pad, PadMode, UnaryFn, Upsample, UpsampleMode, WeightKind};
use crate::graph::tensor::fmt_shape;
use crate::graph::Op;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// LeakyReLU slope of every PN-Conv (§8.1).
pub const LEAKY_SLOPE: f32 = 0.2;
/// Transformer width, FFN width and heads (§8.1).
pub const TRANSFORMER_WIDTH: usize = 512;
pub const FFN_WIDTH: usize = 4096;
pub const HEADS: usize = 8;
/// Side of the token grid: 8³ = 512 tokens per modality (§8.1).
pub const PATCH_GRID: usize = 8;
/// Modalities (§8.1); also the factor between a masked stack's width and its region-fusion width (§8.5).
pub const MODALITIES: usize = 4;

fn three() -> usize {
    3
}
fn one() -> usize {
    1
}
fn width() -> usize {
    TRANSFORMER_WIDTH
}
fn heads() -> usize {
    HEADS
}
fn ffn() -> usize {
    FFN_WIDTH
}
fn grid() -> usize {
    PATCH_GRID
}
fn modalities() -> usize {
    MODALITIES
}

/// Conv3d k³, stride s, bias, with reflect padding (k−1)/2. PyTorch's `padding_mode='reflect'` pads in a
/// pass of its own and then convolves without padding; 1³ convolutions get no pass (§8.1).
fn reflect_conv3d(b: &mut GraphBuilder, x: NodeIndex, out: usize, k: usize, s: usize) -> BuildResult<NodeIndex> {
    if k.is_multiple_of(2) {
        return Err(b.error("conv", format!("reflect padding (k-1)/2 needs an odd kernel, got {k}")));
    }
    let padded = if k > 1 { b.add("pad", Op::Pad(Pad { padding: vec![(k - 1) / 2], mode: PadMode::Reflect }), &[x])? } else { x };
    b.conv("conv", padded, 3, out, k, s, 0, true)
}

/// The ops of one PN-Conv (§8.1) in the current scope: `norm`, `act`, `pad` (3³ only), `conv`.
fn pn_conv3d_ops(b: &mut GraphBuilder, x: NodeIndex, out: usize, k: usize, s: usize) -> BuildResult<NodeIndex> {
    let n = b.add("norm", Op::InstanceNorm(InstanceNorm { affine: false }), &[x])?;
    let a = b.unary("act", UnaryFn::LeakyRelu { slope: LEAKY_SLOPE }, n)?;
    reflect_conv3d(b, a, out, k, s)
}

/// PN-Conv(cin→out, k, s) (§8.1) under the scope `local`.
pub fn pn_conv3d(b: &mut GraphBuilder, local: &str, x: NodeIndex, out: usize, k: usize, s: usize) -> BuildResult<NodeIndex> {
    b.scope(local, |b| pn_conv3d_ops(b, x, out, k, s))
}

/// `pn_conv3d: {out: 16, kernel: 3, stride: 2}` on `[B, C, D, H, W]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PnConv3d {
    pub out: usize,
    #[serde(default = "three")]
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
}

impl Block for PnConv3d {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "pn_conv3d")?;
        pn_conv3d_ops(b, x, self.out, self.kernel, self.stride)
    }
}

/// `mmformer_level: {out: 16}`: one encoder level (§8.3), `a = c1(x); x' = a + c3(c2(a))`, where `c1` is a
/// PN-Conv 3³ with stride 2 to `out` channels (twice the input's in mmFormer), and `c2`, `c3` are PN-Conv 3³.
/// Level 1 (`{out: 8, first: true}`) starts instead with a plain reflect-padded Conv3d 3³ at full resolution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerLevel {
    pub out: usize,
    #[serde(default)]
    pub first: bool,
}

/// One encoder level (see [`MmformerLevel`]); nodes are named after mmFormer's `e{i}_c1..c3` (`c1/conv`).
pub fn encoder_level(b: &mut GraphBuilder, x: NodeIndex, out: usize, first: bool) -> BuildResult<NodeIndex> {
    let a = if first { b.scope("c1", |b| reflect_conv3d(b, x, out, 3, 1))? } else { pn_conv3d(b, "c1", x, out, 3, 2)? };
    let y = pn_conv3d(b, "c2", a, out, 3, 1)?;
    let y = pn_conv3d(b, "c3", y, out, 3, 1)?;
    b.binary("residual", BinaryKind::Add, a, y)
}

impl Block for MmformerLevel {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "mmformer_level")?;
        encoder_level(b, x, self.out, self.first)
    }
}

/// One modality's whole encoder (§8.3): five levels `level1..level5` of widths `basic·2^i` (basic 8 in
/// mmFormer). Returns x1..x5. The YAML builds the same ops as five `mmformer_level` items.
pub fn encoder(b: &mut GraphBuilder, x: NodeIndex, basic: usize) -> BuildResult<[NodeIndex; 5]> {
    let mut outs = [x; 5];
    let mut cur = x;
    for (i, out) in outs.iter_mut().enumerate() {
        cur = b.scope(&format!("level{}", i + 1), |b| encoder_level(b, cur, basic << i, i == 0))?;
        *out = cur;
    }
    Ok(outs)
}

/// `[B, C, *spatial]` to tokens `[B, Π spatial, C]`: `.permute(0, 2, .., 1).contiguous()` (a copy), then a view.
fn to_tokens(b: &mut GraphBuilder, prefix: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
    let shape = b.shape(x).to_vec();
    if shape.len() < 3 {
        return Err(b.error(prefix, format!("expects [B, C, *spatial], got {}", fmt_shape(&shape))));
    }
    let rank = shape.len();
    let perm: Vec<usize> = [0].into_iter().chain(2..rank).chain([1]).collect();
    let p = b.permute(&format!("{prefix}_perm"), x, &perm)?;
    let tokens: usize = shape[2..].iter().product();
    b.reshape(&format!("{prefix}_view"), p, &[shape[0], tokens, shape[1]])
}

/// `mmformer_tokens: {width: 512}`: the token projection Conv3d 1³ with bias (§8.3 step 1) and the tokens
/// `[B, D·H·W, width]` (step 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerTokens {
    #[serde(default = "width")]
    pub width: usize,
}

impl Block for MmformerTokens {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "mmformer_tokens")?;
        let c = b.conv("encode_conv", x, 3, self.width, 1, 1, 0, true)?;
        to_tokens(b, "tokens", c)
    }
}

/// `mmformer_transformer: {pos_tables: [flair]}`: mmFormer's `Transformer(x, pos)` of depth 1 — add the
/// learned positional table, then one pre-LN layer (fused QKV without bias, `heads` heads, the score scale
/// as its own multiply, FFN `ff` with exact GELU). Each name in `pos_tables` is one table of
/// `[1, tokens / n, width]` parameters; blocks naming the same table share it, so the inter-modal transformer
/// (§8.4 step 3, `pos_tables: [flair, t1ce, t1, t2]`) concatenates the four intra-modal tables (one concat
/// kernel) without adding parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerTransformer {
    pub pos_tables: Vec<String>,
    #[serde(default = "heads")]
    pub heads: usize,
    #[serde(default = "ffn")]
    pub ff: usize,
}

impl MmformerTransformer {
    /// The layer mmFormer's `Transformer` runs (§8.3 steps 4–5).
    pub fn layer(&self) -> TransformerLayer {
        TransformerLayer {
            heads: self.heads,
            ff: Some(self.ff),
            norm: NormPlacement::Pre,
            activation: "gelu".into(),
            qkv: QkvLayout::Fused,
            qkv_bias: false,
            mask: false,
            norm_kv: false,
            separate_scale: true,
        }
    }
}

/// The weight-sharing group of a positional table: every block naming `table` reads the same parameter.
fn pos_table_group(table: &str) -> String {
    format!("mmformer_pos_table/{table}")
}

impl Block for MmformerTransformer {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "mmformer_transformer")?;
        let (_, tokens, width) = seq_dims(b, x, "mmformer_transformer")?;
        let n = self.pos_tables.len();
        if n == 0 || tokens % n != 0 {
            return Err(b.error("pos_tables", format!("{tokens} tokens cannot be split into {n} positional tables")));
        }
        let mut tables = Vec::with_capacity(n);
        for t in &self.pos_tables {
            let group = pos_table_group(t);
            let w = b.scope(&format!("pos_{t}"), |b| b.shared(&group, |b| b.weight("table", &[1, tokens / n, width], WeightKind::Param)))?;
            tables.push(w);
        }
        let pos = if n == 1 { tables[0] } else { b.concat("pos_concat", &tables, 1)? };
        let x = b.binary("pos_add", BinaryKind::Add, x, pos)?;
        transformer_layer(b, x, None, &self.layer())
    }
}

/// `mmformer_untokens: {grid: 8}`: tokens `[B, L, d]` back to a volume. The memory is viewed as
/// `[B, g, g, g, L·d/g³]` and permuted to channels-first with `.contiguous()` (a copy): `[B, L·d/g³, g, g, g]`.
/// For the intra-modal transformer that is `[B, 512, 8, 8, 8]` (§8.3 step 6); after the inter-modal one
/// it reinterprets 2048 tokens as 2048 channels (§8.4 step 5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerUntokens {
    #[serde(default = "grid")]
    pub grid: usize,
}

impl Block for MmformerUntokens {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "mmformer_untokens")?;
        let g = self.grid;
        let (batch, tokens, width) = seq_dims(b, x, "mmformer_untokens")?;
        let cells = g * g * g;
        if g == 0 || (tokens * width) % cells != 0 {
            return Err(b.error("mmformer_untokens", format!("{tokens} x {width} values do not fill a {g}^3 grid")));
        }
        let v = b.reshape("view", x, &[batch, g, g, g, tokens * width / cells])?;
        b.permute("perm", v, &[0, 4, 1, 2, 3])
    }
}

/// `mmformer_mask`: mmFormer's `MaskModal` on K modality tensors `[B, C, *spatial]` followed by the
/// availability mask `[B, K]` (inputs in that order). The tensors are stacked (`[B, K, C, *spatial]`, one
/// concat kernel), the unavailable modalities are zeroed by copying into a zero tensor — modelled as one
/// masked copy, a multiply by the mask broadcast over the rest — and the result is viewed as
/// `[B, K·C, *spatial]` (§8.4 step 1). The copy moves the whole stack, as it does with every modality
/// present. Not modelled: eager `y = zeros_like(x); y[mask] = x[mask]` also fills the zeros, gathers
/// `x[mask]` before scattering it, and finds the indices with `nonzero` twice, each a device-to-host sync.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerMask {}

impl Block for MmformerMask {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let Some((&mask, xs)) = inputs.split_last().filter(|(_, xs)| !xs.is_empty()) else {
            return Err(b.error("mmformer_mask", "`mmformer_mask` takes the modality tensors and then the availability mask"));
        };
        let shape = b.shape(xs[0]).to_vec();
        let k = xs.len();
        if shape.len() < 3 || b.shape(mask) != [shape[0], k] {
            return Err(b.error(
                "mmformer_mask",
                format!(
                    "expects tensors [B, C, *spatial] and a mask [B, {k}], got {} and mask {}",
                    fmt_shape(&shape),
                    fmt_shape(b.shape(mask))
                ),
            ));
        }
        let stacked = b.stack("stack", xs, 1)?;
        let mut mask_shape = vec![shape[0], k];
        mask_shape.resize(shape.len() + 1, 1);
        let m = b.reshape("mask_view", mask, &mask_shape)?;
        let masked = b.binary("masked_copy", BinaryKind::Mul, stacked, m)?;
        let mut out = vec![shape[0], k * shape[1]];
        out.extend(&shape[2..]);
        b.reshape("view", masked, &out)
    }
}

/// `mmformer_inter_tokens: {modalities: 4}`: §8.4 step 2 on the masked stack `[B, K·C, *spatial]` — split
/// into K chunks of C channels (views), each to tokens (a permute copy), concatenated along the token axis:
/// `[B, K·Π spatial, C]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerInterTokens {
    #[serde(default = "modalities")]
    pub modalities: usize,
}

impl Block for MmformerInterTokens {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "mmformer_inter_tokens")?;
        let k = self.modalities;
        let channels = b.shape(x).get(1).copied().unwrap_or(0);
        if k == 0 || channels % k != 0 {
            return Err(b.error("mmformer_inter_tokens", format!("{channels} channels cannot be split into {k} modalities")));
        }
        let c = (channels / k) as i64;
        let mut parts = Vec::with_capacity(k);
        for i in 0..k as i64 {
            let chunk = b.slice(&format!("chunk{i}"), x, 1, i * c, Some((i + 1) * c))?;
            parts.push(to_tokens(b, &format!("tokens{i}"), chunk)?);
        }
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        b.concat("concat", &parts, 1)
    }
}

/// `mmformer_decoder: {classes: 4}`: the fused decoder (§8.5) on the masked skips x1..x4 and x5_inter
/// (inputs shallow to deep, each `[B, K·c, s, s, s]` with the spatial side halving). Per level, deepest
/// first: RFM(c) = PN-Conv(K·c→c, 1) → PN-Conv(c→c, 3) → PN-Conv(c→c, 1) on the skip; below the deepest
/// level, the path from the level beneath is upsampled (trilinear ×2, aligned corners) and convolved
/// (PN-Conv 3³ to c, `d{l}_c1`), concatenated after the RFM output, then PN-Conv 3³ (`d{l}_c2`) and PN-Conv
/// 1³ (`d{l}_out`). Every level but the first has an auxiliary map (Conv3d 1³ to `classes`, softmax over
/// classes); level 1 gives the prediction. The auxiliary maps are then upsampled to full size (×2, ×4, ×8,
/// ×16). Returns the prediction; the auxiliary maps are computed, as at inference, but are not the block's
/// output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmformerDecoder {
    pub classes: usize,
    /// K: a skip carries K·c channels for an RFM of width c (mmFormer builds the RFMs with `num_cls` = 4).
    #[serde(default = "modalities")]
    pub modalities: usize,
}

impl MmformerDecoder {
    /// Region-fusion width of a skip: its channels over K.
    fn width(&self, b: &GraphBuilder, x: NodeIndex) -> BuildResult<usize> {
        match b.shape(x) {
            [_, c, _, _, _] if self.modalities > 0 && c % self.modalities == 0 && *c > 0 => Ok(c / self.modalities),
            s => Err(b.error(
                "mmformer_decoder",
                format!("expects skips [B, {}·c, D, H, W], got {}", self.modalities, fmt_shape(s)),
            )),
        }
    }

    /// Auxiliary or final map: Conv3d 1³ to the classes with bias, softmax over the class axis.
    fn segment(&self, b: &mut GraphBuilder, local: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
        b.scope(local, |b| {
            let logits = b.conv("conv", x, 3, self.classes, 1, 1, 0, true)?;
            b.softmax("softmax", logits, 1)
        })
    }
}

/// RFM(c) (§8.5) under the scope `local`. Its 3³ conv is a PN-Conv with reflect padding as §8.5 writes it;
/// upstream mmFormer's `fusion_prenorm` leaves `pad_type` at its default `'zeros'`, which would fold the
/// padding into the convolution (same parameters, one pad pass fewer per RFM).
fn region_fusion(b: &mut GraphBuilder, local: &str, x: NodeIndex, c: usize) -> BuildResult<NodeIndex> {
    b.scope(local, |b| {
        let y = pn_conv3d(b, "f1", x, c, 1, 1)?;
        let y = pn_conv3d(b, "f2", y, c, 3, 1)?;
        pn_conv3d(b, "f3", y, c, 1, 1)
    })
}

fn trilinear(scale: f64) -> Op {
    Op::Upsample(Upsample { scale: Some(scale), size: None, mode: UpsampleMode::Linear, align_corners: true })
}

impl Block for MmformerDecoder {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let Some((&deepest, skips)) = inputs.split_last().filter(|(_, s)| !s.is_empty()) else {
            let msg = format!("`mmformer_decoder` takes the skips and the deepest map, got {} inputs", inputs.len());
            return Err(b.error("mmformer_decoder", msg));
        };
        let levels = inputs.len();
        let c = self.width(b, deepest)?;
        let mut path = region_fusion(b, &format!("rfm{levels}"), deepest, c)?;
        // Auxiliary maps, deepest first (mmFormer's pred4, pred3, ...).
        let mut aux = vec![self.segment(b, &format!("seg_d{}", levels - 1), path)?];
        for (i, &skip) in skips.iter().enumerate().rev() {
            let level = i + 1;
            let c = self.width(b, skip)?;
            let up = b.add(&format!("d{level}_up"), trilinear(2.0), &[path])?;
            let up = pn_conv3d(b, &format!("d{level}_c1"), up, c, 3, 1)?;
            let fused = region_fusion(b, &format!("rfm{level}"), skip, c)?;
            let cat = b.concat(&format!("d{level}_cat"), &[fused, up], 1)?;
            let y = pn_conv3d(b, &format!("d{level}_c2"), cat, c, 3, 1)?;
            path = pn_conv3d(b, &format!("d{level}_out"), y, c, 1, 1)?;
            if level > 1 {
                aux.push(self.segment(b, &format!("seg_d{}", level - 1), path)?);
            }
        }
        let pred = self.segment(b, "seg_layer", path)?;
        // `up2(pred1), up4(pred2), up8(pred3), up16(pred4)`: the shallowest auxiliary map first.
        for (j, &map) in aux.iter().rev().enumerate() {
            b.add(&format!("pred{}_up", j + 1), trilinear(f64::from(2u32 << j)), &[map])?;
        }
        Ok(pred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, Node, OpClass, Stage, Workload};

    fn params_of(w: &Workload, prefix: &str) -> u64 {
        w.nodes().filter(|(_, n)| n.name.starts_with(prefix)).map(|(_, n)| n.cost.params).sum()
    }

    fn kinds_under(w: &Workload, prefix: &str) -> Vec<String> {
        w.nodes().filter(|(_, n)| n.name.starts_with(prefix)).map(|(_, n)| n.op.kind()).collect()
    }

    fn node<'a>(w: &'a Workload, name: &str) -> &'a Node {
        w.nodes().find(|(_, n)| n.name == name).unwrap_or_else(|| panic!("no node {name}")).1
    }

    /// One input of `shape` per mmFormer modality, each tagged as that modality's encoder; then the fusion
    /// stage's availability mask `[1, 4]` last, as `mmformer_mask` takes them.
    fn modality_inputs(b: &mut GraphBuilder, shape: &[usize]) -> Vec<NodeIndex> {
        let mut xs = Vec::new();
        for m in ["flair", "t1ce", "t1", "t2"] {
            b.set_stage(Stage::Encoder, Some(m));
            xs.push(b.input(m, shape, DType::F32).unwrap());
        }
        b.set_stage(Stage::Fusion, None);
        xs.push(b.input("mask", &[1, 4], DType::F32).unwrap());
        xs
    }

    #[test]
    fn pn_conv3d_is_norm_act_reflect_pad_conv() {
        // §8.1: reflect padding is its own pass before a 3³ conv; a 1³ conv has none.
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 8, 16, 16, 16], DType::F32).unwrap();
        let y = pn_conv3d(&mut b, "k3", x, 16, 3, 2).unwrap();
        assert_eq!(b.shape(y), &[1, 16, 8, 8, 8]);
        let z = pn_conv3d(&mut b, "k1", y, 16, 1, 1).unwrap();
        assert_eq!(b.shape(z), &[1, 16, 8, 8, 8]);
        let w = b.finish("t", "", vec![]);
        assert_eq!(kinds_under(&w, "k3/"), ["instance_norm", "leaky_relu", "pad", "conv3d"]);
        assert_eq!(kinds_under(&w, "k1/"), ["instance_norm", "leaky_relu", "conv3d"]);
        assert_eq!(node(&w, "k3/pad").output.shape, [1, 8, 18, 18, 18]);
        // InstanceNorm computes statistics at inference: a reduction, not a folded scale and shift.
        assert_eq!(node(&w, "k3/norm").cost.class, OpClass::Reduction);
        assert_eq!(w.params(), (16 * 8 * 27 + 16) + (16 * 16 + 16));
    }

    #[test]
    fn even_kernels_are_rejected() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 8, 16, 16, 16], DType::F32).unwrap();
        let err = pn_conv3d(&mut b, "c", x, 8, 2, 1).unwrap_err();
        assert!(err.message.contains("odd kernel"), "{err}");
    }

    #[test]
    fn encoder_stack_has_1_473_216_parameters_and_halves_each_level() {
        // §8.3: 1,473,216 parameters per stack; x1..x5 of 8..128 channels from 128³ down to 8³.
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 1, 128, 128, 128], DType::F32).unwrap();
        let xs = encoder(&mut b, x, 8).unwrap();
        let shapes: Vec<Vec<usize>> = xs.iter().map(|&i| b.shape(i).to_vec()).collect();
        assert_eq!(
            shapes,
            [[1, 8, 128, 128, 128], [1, 16, 64, 64, 64], [1, 32, 32, 32, 32], [1, 64, 16, 16, 16], [1, 128, 8, 8, 8]]
        );
        let w = b.finish("t", "", vec![]);
        assert_eq!(w.params(), 1_473_216);
        // Level 1 starts with a plain conv (no norm); every level ends with its residual add.
        assert_eq!(kinds_under(&w, "level1/c1/"), ["pad", "conv3d"]);
        assert_eq!(kinds_under(&w, "level2/c1/"), ["instance_norm", "leaky_relu", "pad", "conv3d"]);
        for l in 1..=5 {
            assert_eq!(node(&w, &format!("level{l}/residual")).op.kind(), "add");
        }
        // 15 reflect-padded 3³ convs per stack.
        assert_eq!(w.nodes().filter(|(_, n)| n.op.kind() == "pad").count(), 15);
    }

    /// The intra-modal transformer of one modality on x5, as the YAML chains it.
    fn intra(b: &mut GraphBuilder, x5: NodeIndex, table: &str) -> NodeIndex {
        let t = b.scope(&format!("{table}_tokens"), |b| MmformerTokens { width: 512 }.build(b, &[x5])).unwrap();
        let tr = MmformerTransformer { pos_tables: vec![table.into()], heads: 8, ff: 4096 };
        let y = b.scope(&format!("{table}_intra"), |b| tr.build(b, &[t])).unwrap();
        b.scope(&format!("{table}_untokens"), |b| MmformerUntokens { grid: 8 }.build(b, &[y])).unwrap()
    }

    #[test]
    fn intra_modal_transformer_parameters_and_shapes() {
        // §8.3: projection 66,048 + positional table 262,144 + layer 5,250,048.
        let mut b = GraphBuilder::new(1);
        let x5 = b.input("x5", &[1, 128, 8, 8, 8], DType::F32).unwrap();
        let y = intra(&mut b, x5, "flair");
        assert_eq!(b.shape(y), &[1, 512, 8, 8, 8]);
        let w = b.finish("t", "", vec![y]);
        assert_eq!(params_of(&w, "flair_tokens/"), 66_048);
        assert_eq!(params_of(&w, "flair_intra/pos_flair/"), 262_144);
        assert_eq!(params_of(&w, "flair_intra/"), 262_144 + 5_250_048);
        assert_eq!(w.params(), 5_578_240);
        // Both layout changes are copies (`.contiguous()`); the views around them are free.
        let copies: Vec<&str> = w
            .nodes()
            .filter(|(_, n)| n.op.kind() == "permute" && n.cost.class == OpClass::Movement)
            .map(|(_, n)| n.name.as_str())
            .collect();
        assert!(copies.contains(&"flair_tokens/tokens_perm") && copies.contains(&"flair_untokens/perm"), "{copies:?}");
        // `(q @ k^T) * scale` is a GEMM then a multiply of its own over the 8 x 512 x 512 scores.
        assert_eq!(node(&w, "flair_intra/attn/scale").output.shape, [1, 8, 512, 512]);
    }

    #[test]
    fn inter_modal_fusion_shares_the_positional_tables() {
        // §8.4: mask, 2048 tokens, the four tables concatenated (no new parameters), one layer, 1³ conv.
        let mut b = GraphBuilder::new(1);
        let mut inputs = modality_inputs(&mut b, &[1, 128, 8, 8, 8]);
        for (x5, m) in inputs.iter_mut().zip(["flair", "t1ce", "t1", "t2"]) {
            *x5 = intra(&mut b, *x5, m);
        }
        let masked = b.scope("x5_intra", |b| MmformerMask {}.build(b, &inputs)).unwrap();
        assert_eq!(b.shape(masked), &[1, 2048, 8, 8, 8]);
        let tokens = b.scope("inter_tokens", |b| MmformerInterTokens { modalities: 4 }.build(b, &[masked])).unwrap();
        assert_eq!(b.shape(tokens), &[1, 2048, 512]);
        let all = MmformerTransformer { pos_tables: ["flair", "t1ce", "t1", "t2"].map(String::from).to_vec(), heads: 8, ff: 4096 };
        let y = b.scope("inter", |b| all.build(b, &[tokens])).unwrap();
        let v = b.scope("inter_x5", |b| MmformerUntokens { grid: 8 }.build(b, &[y])).unwrap();
        assert_eq!(b.shape(v), &[1, 2048, 8, 8, 8]);
        let out = b.conv("x5_inter", v, 3, 512, 1, 1, 0, true).unwrap();
        assert_eq!(b.shape(out), &[1, 512, 8, 8, 8]);
        let w = b.finish("t", "", vec![out]);
        assert_eq!(w.params(), 4 * 5_578_240 + 5_250_048 + 1_049_088);
        assert_eq!(node(&w, "inter/pos_concat").output.shape, [1, 2048, 512]);
        // Attention over all 2048 tokens of the four modalities.
        assert_eq!(node(&w, "inter/attn/scores").output.shape, [1, 8, 2048, 2048]);
    }

    #[test]
    fn masking_is_a_stack_and_one_masked_copy() {
        let mut b = GraphBuilder::new(1);
        let xs = modality_inputs(&mut b, &[1, 8, 4, 4, 4]);
        let y = b.scope("m", |b| MmformerMask {}.build(b, &xs)).unwrap();
        assert_eq!(b.shape(y), &[1, 32, 4, 4, 4]);
        let w = b.finish("t", "", vec![y]);
        let kernels: Vec<String> = w.nodes().filter(|(_, n)| n.cost.kernels > 0).map(|(_, n)| n.op.kind()).collect();
        assert_eq!(kernels, ["concat", "mul"]);
        // The stack is where the four modalities join.
        let joins: Vec<&str> = w.joins().into_iter().map(|i| w.graph[i].name.as_str()).collect();
        assert_eq!(joins, ["m/stack/concat"]);
        // A mask that does not match the number of modalities is refused.
        let mut b = GraphBuilder::new(1);
        let mut xs = modality_inputs(&mut b, &[1, 8, 4, 4, 4]);
        xs.drain(..2);
        assert!(MmformerMask {}.build(&mut b, &xs).unwrap_err().message.contains("mask [B, 2]"));
    }

    /// The fused decoder on the skip shapes of §8.4.
    fn decoder() -> (Workload, NodeIndex) {
        let mut b = GraphBuilder::new(1);
        let shapes: [&[usize]; 5] =
            [&[1, 32, 128, 128, 128], &[1, 64, 64, 64, 64], &[1, 128, 32, 32, 32], &[1, 256, 16, 16, 16], &[1, 512, 8, 8, 8]];
        let xs: Vec<NodeIndex> = shapes.iter().enumerate().map(|(i, s)| b.input(&format!("x{}", i + 1), s, DType::F32).unwrap()).collect();
        let pred = b.scope("dec", |b| MmformerDecoder { classes: 4, modalities: 4 }.build(b, &xs)).unwrap();
        (b.finish("t", "", vec![pred]), pred)
    }

    #[test]
    fn decoder_has_1_293_444_parameters_and_predicts_at_full_size() {
        // §8.5: 1,293,444 parameters; a 4-class softmax at 128³.
        let (w, pred) = decoder();
        assert_eq!(w.params(), 1_293_444);
        assert_eq!(w.graph[pred].output.shape, [1, 4, 128, 128, 128]);
        assert_eq!(w.graph[pred].op.kind(), "softmax");
        // RFM(128) on x5 brings 512 channels down to 128.
        assert_eq!(node(&w, "dec/rfm5/f3/conv").output.shape, [1, 128, 8, 8, 8]);
    }

    #[test]
    fn decoder_computes_four_auxiliary_maps_upsampled_to_full_size() {
        let (w, _) = decoder();
        let aux: Vec<(&str, &[usize])> = w
            .nodes()
            .filter(|(_, n)| n.name.starts_with("dec/pred"))
            .map(|(_, n)| (n.name.as_str(), &n.output.shape[..]))
            .collect();
        let full: &[usize] = &[1, 4, 128, 128, 128];
        assert_eq!(aux, [("dec/pred1_up", full), ("dec/pred2_up", full), ("dec/pred3_up", full), ("dec/pred4_up", full)]);
        // Auxiliary maps come from levels 5 (8³) to 2 (64³), each a softmax over the classes.
        let maps: Vec<Vec<usize>> = w
            .nodes()
            .filter(|(_, n)| n.name.starts_with("dec/seg_d") && n.op.kind() == "softmax")
            .map(|(_, n)| n.output.shape.clone())
            .collect();
        assert_eq!(maps, [[1, 4, 8, 8, 8], [1, 4, 16, 16, 16], [1, 4, 32, 32, 32], [1, 4, 64, 64, 64]]);
        // Every upsampling is trilinear with aligned corners.
        for (_, n) in w.nodes() {
            if let Op::Upsample(u) = &n.op {
                assert!(u.align_corners && u.mode == UpsampleMode::Linear, "{}", n.name);
            }
        }
    }

    #[test]
    fn decoder_rejects_skips_it_cannot_split() {
        let mut b = GraphBuilder::new(1);
        let x1 = b.input("x1", &[1, 30, 16, 16, 16], DType::F32).unwrap();
        let x2 = b.input("x2", &[1, 64, 8, 8, 8], DType::F32).unwrap();
        let err = MmformerDecoder { classes: 4, modalities: 4 }.build(&mut b, &[x1, x2]).unwrap_err();
        assert!(err.message.contains("[1, 30, 16, 16, 16]"), "{err}");
    }
}
