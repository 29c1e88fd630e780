//! TransFuser (WORKLOADS.md §11): the parts of `graphs/transfuser.yaml` that plain ops cannot say, each
//! expanded into the kernels eager PyTorch launches for it.
//!
//! * `gpt` and `gpt_split`: the GPT fusion between the image and LiDAR streams after every RegNetY stage
//!   (§11.3). Nodes have one output, so the exchange is three items: `gpt` turns both maps into one token
//!   sequence and runs the transformer; `gpt_split: {side: image}` and `{side: lidar}` each cut their tokens
//!   out, resize them back to their stream's resolution and add them to it.
//! * `waypoint_gru`: the autoregressive GRU waypoint decoder (§11.4), whose four steps share weights.
//! * `centernet_targets`: the Python loop that builds the CenterNet targets box by box (§11.4), as the tiny
//!   kernels it launches and the host synchronizations it makes.
//! * `mmdet_loss`: mmdetection's Gaussian focal, L1, smooth-L1 and cross-entropy losses with a weight and an
//!   average factor, as TransFuser's detection head calls them.
//! * `loss_readback`: the validation loop that sums the eleven losses and reads each back with `.item()`.
//!
//! Host synchronizations (`.item()`, `bool()` or `int()` of a GPU tensor) are `host_work` ops that take the GPU
//! value they read: the simulator then copies it to the host, so the host waits for the GPU, pays the copy
//! latency and its own dispatch. The kernels around them pay the runtime's per-op overheads like any other op.

use super::transformer::{transformer_layer, NormPlacement, QkvLayout, TransformerLayer};
use super::Block;
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{AdaptiveAvgPool, BinaryKind, GruCell, HostWork, ReduceKind, Upsample, UpsampleMode, UnaryFn, WeightKind};
use crate::graph::tensor::{fmt_shape, DType};
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// The token grids of both streams, shared by `gpt` and `gpt_split` (`anchors: {image: [5, 22]}`). The
/// defaults are TransFuser's (`config.py`: `img_vert_anchors` x `img_horz_anchors`, `lidar_vert_anchors` x
/// `lidar_horz_anchors`): the 160x704 camera crop and the 256x256 BEV divided by RegNet's total stride 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchors {
    #[serde(default = "image_grid")]
    pub image: [usize; 2],
    #[serde(default = "lidar_grid")]
    pub lidar: [usize; 2],
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors { image: image_grid(), lidar: lidar_grid() }
    }
}

impl Anchors {
    fn tokens(&self) -> (usize, usize) {
        (self.image[0] * self.image[1], self.lidar[0] * self.lidar[1])
    }
}

fn image_grid() -> [usize; 2] {
    [5, 22]
}
fn lidar_grid() -> [usize; 2] {
    [8, 8]
}
fn four() -> usize {
    4
}

fn inputs_n<const N: usize>(b: &GraphBuilder, inputs: &[NodeIndex], what: &str, names: &str) -> BuildResult<[NodeIndex; N]> {
    inputs.try_into().map_err(|_| b.error(what, format!("`{what}` takes {N} inputs ({names}), got {}", inputs.len())))
}

fn rank4(b: &GraphBuilder, x: NodeIndex, what: &str) -> BuildResult<[usize; 4]> {
    b.shape(x).try_into().map_err(|_| b.error(what, format!("expects a feature map [B, C, H, W], got {}", fmt_shape(b.shape(x)))))
}

/// `gpt: {heads: 4, layers: 4}`: inputs `[image map, LiDAR map]` with equal widths C; output the fused tokens
/// `[B, 5*22 + 8*8, C]` after the final LayerNorm. Per exchange: adaptive average pools to the anchor grids,
/// a permute copy of each to tokens (`view(B, 1, C, h, w).permute(0, 1, 3, 4, 2).contiguous()`), the concat,
/// the learned positional table `[1, 174, C]` added, `layers` pre-LN blocks (separate Q, K, V with bias; scores
/// scaled by a separate multiply as minGPT does; ReLU MLP of `expansion` x C) and the final LayerNorm. Dropouts
/// are inactive and the velocity embedding is off (`use_velocity = 0`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpt {
    #[serde(default = "four")]
    pub heads: usize,
    #[serde(default = "four")]
    pub layers: usize,
    #[serde(default = "four")]
    pub expansion: usize,
    #[serde(default)]
    pub anchors: Anchors,
}

impl Block for Gpt {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let [image, lidar] = inputs_n(b, inputs, "gpt", "image map, LiDAR map")?;
        let [bi, c, ..] = rank4(b, image, "gpt")?;
        let [bl, cl, ..] = rank4(b, lidar, "gpt")?;
        if bi != bl || c != cl {
            return Err(b.error("gpt", format!("image {} and LiDAR {} differ in batch or width", fmt_shape(b.shape(image)), fmt_shape(b.shape(lidar)))));
        }
        let tokens = |b: &mut GraphBuilder, side: &str, x: NodeIndex, grid: [usize; 2]| -> BuildResult<NodeIndex> {
            let pooled = b.add(&format!("{side}_pool"), Op::AdaptiveAvgPool(AdaptiveAvgPool { output: grid.to_vec() }), &[x])?;
            let flat = b.reshape(&format!("{side}_flat"), pooled, &[bi, c, grid[0] * grid[1]])?;
            b.permute(&format!("{side}_tokens"), flat, &[0, 2, 1])
        };
        let ti = tokens(b, "image", image, self.anchors.image)?;
        let tl = tokens(b, "lidar", lidar, self.anchors.lidar)?;
        let seq = b.concat("tokens", &[ti, tl], 1)?;
        let n = b.shape(seq)[1];
        let pos = b.weight("pos_emb", &[1, n, c], WeightKind::Param)?;
        let mut x = b.binary("pos_add", BinaryKind::Add, pos, seq)?;
        let layer = TransformerLayer {
            heads: self.heads,
            ff: Some(self.expansion * c),
            norm: NormPlacement::Pre,
            activation: "relu".into(),
            qkv: QkvLayout::Separate,
            qkv_bias: true,
            mask: false,
            norm_kv: false,
            separate_scale: true,
        };
        for i in 0..self.layers {
            x = b.scope(&format!("layer{i}"), |b| transformer_layer(b, x, None, &layer))?;
        }
        b.layer_norm("ln_f", x)
    }
}

/// Which stream a `gpt_split` returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GptSide {
    Image,
    Lidar,
}

/// `gpt_split: {side: image}`: inputs `[gpt tokens, stream map]`; output the stream plus its share of the
/// tokens. The share is a slice copy (`x[:, :110, :].contiguous()`), viewed as `[B, C, h, w]` (TransFuser views
/// the token-major memory channel-major, without a permute), bilinearly resized to the stream's resolution
/// (`align_corners=False`; an identity-size interpolation, still a kernel, after stage 4) and added.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptSplit {
    pub side: GptSide,
    #[serde(default)]
    pub anchors: Anchors,
}

impl Block for GptSplit {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let [tokens, stream] = inputs_n(b, inputs, "gpt_split", "gpt tokens, stream map")?;
        let [bs, c, h, w] = rank4(b, stream, "gpt_split")?;
        let (ni, nl) = self.anchors.tokens();
        if b.shape(tokens) != [bs, ni + nl, c] {
            return Err(b.error("gpt_split", format!("expects gpt tokens [{bs}, {}, {c}], got {}", ni + nl, fmt_shape(b.shape(tokens)))));
        }
        let (start, end, grid) = match self.side {
            GptSide::Image => (0, ni, self.anchors.image),
            GptSide::Lidar => (ni, ni + nl, self.anchors.lidar),
        };
        let part = b.slice("slice", tokens, 1, start as i64, Some(end as i64))?;
        let map = b.reshape("view", part, &[bs, c, grid[0], grid[1]])?;
        let resize = Upsample { scale: None, size: Some(vec![h, w]), mode: UpsampleMode::Linear, align_corners: false };
        let up = b.add("interpolate", Op::Upsample(resize), &[map])?;
        b.binary("residual", BinaryKind::Add, stream, up)
    }
}

fn mlp_widths() -> Vec<usize> {
    vec![256, 128, 64]
}
fn lidar_x() -> f32 {
    1.3
}

/// `waypoint_gru: {steps: 4}`: inputs `[fused features [B, 512], target point [B, 2]]`; output the waypoints
/// `[B, steps, 2]` (`LidarCenterNet.forward_gru`). `join` (Linear + ReLU to each of `mlp` widths) gives the
/// initial hidden state. The first waypoint is `torch.zeros((B, 2)).to(device)`, a host tensor copied to the
/// GPU (an input here). The target point is cloned and its y negated in place. Each step concatenates
/// `[previous waypoint, target point]`, runs `nn.GRUCell` (one call: the `W_ih` projection, the `W_hh` GEMM and
/// the fused gate kernel), projects the hidden state with Linear 64→3 and adds its first two outputs to the
/// waypoint. The slice `dx[:, :2]` is a copy here where PyTorch's add reads it strided: one tiny kernel more
/// per step. The waypoints are stacked, and `pred_wp[:, :, 0] -= lidar_pos[0]` (a subtraction and a copy back
/// into the strided column in PyTorch) is one add of `[-lidar_x, 0]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaypointGru {
    #[serde(default = "four")]
    pub steps: usize,
    #[serde(default = "mlp_widths")]
    pub mlp: Vec<usize>,
    /// `config.lidar_pos[0]`, metres.
    #[serde(default = "lidar_x")]
    pub lidar_x: f32,
}

impl Block for WaypointGru {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let [fused, target] = inputs_n(b, inputs, "waypoint_gru", "fused features, target point")?;
        let batch = b.shape(fused)[0];
        if b.shape(fused).len() != 2 || b.shape(target) != [batch, 2] || self.mlp.is_empty() || self.steps == 0 {
            return Err(b.error(
                "waypoint_gru",
                format!("expects features [B, F] and a target point [B, 2], a non-empty `mlp` and steps > 0; got {} and {}", fmt_shape(b.shape(fused)), fmt_shape(b.shape(target))),
            ));
        }
        let mut h = fused;
        for (i, &width) in self.mlp.iter().enumerate() {
            h = b.scope("join", |b| {
                let l = b.linear(&format!("fc{i}"), h, width, true)?;
                b.relu(&format!("relu{i}"), l)
            })?;
        }
        let hidden = *self.mlp.last().expect("non-empty");
        let mut x = b.input("x0", &[batch, 2], DType::F32)?;
        let cloned = b.unary("target_clone", UnaryFn::Scale { factor: 1.0, offset: 0.0 }, target)?;
        let flip = b.weight("negate_y", &[2], WeightKind::Buffer)?;
        let target = b.binary("target_negate_y", BinaryKind::Mul, cloned, flip)?;
        let group = b.qualified("decoder");
        let mut waypoints = Vec::with_capacity(self.steps);
        for t in 0..self.steps {
            let (h_next, x_next) = b.scope(&format!("step{t}"), |b| {
                let x_in = b.concat("x_in", &[x, target], 1)?;
                let h_next = b.shared(&group, |b| {
                    b.one_call(|b| {
                        let proj = b.linear("w_ih", x_in, 3 * hidden, true)?;
                        b.add("gru_cell", Op::GruCell(GruCell { hidden, step: None, time_major: false }), &[proj, h])
                    })
                })?;
                let dx = b.shared(&group, |b| b.linear("output", h_next, 3, true))?;
                let dxy = b.slice("dx_xy", dx, 1, 0, Some(2))?;
                Ok((h_next, b.binary("waypoint", BinaryKind::Add, dxy, x)?))
            })?;
            h = h_next;
            x = x_next;
            waypoints.push(x);
        }
        let stacked = b.stack("pred_wp", &waypoints, 1)?;
        let shift = b.weight("lidar_offset", &[2], WeightKind::Buffer)?;
        b.binary("to_lidar_frame", BinaryKind::Add, stacked, shift)
    }
}

/// Kernels and synchronizations of one real box in `LidarCenterNetHead.get_targets`, counted from the code
/// (mmdetection 2.x helpers): `gaussian_radius` about 27 scalar kernels and 5 syncs (three `math.sqrt` of
/// GPU scalars, two comparisons in `min`); `int(radius)` 1 sync; `gen_gaussian_target` about 17 kernels
/// (`gaussian2D`'s aranges, products, exp, max and masked fill; the bounds; the `torch.max` into the heat map)
/// and 9 syncs (the masked fill's nonzero, `min` on tensor bounds, tensor slice bounds); the box's target
/// writes and `angle2class` about 26 kernels. About 70 kernels and 15 syncs.
fn kernels_per_box() -> usize {
    70
}
fn syncs_per_box() -> usize {
    15
}

/// `centernet_targets: {real_boxes: 4}`: inputs `[label [B, S, 7], ignore flags [B, S], heat-map target
/// [B, 1, H, W]]`; output the heat-map target after the loop wrote every box into it. The loop
/// (`get_targets`) runs per sample: the box centres scaled to the feature grid (two gathers, two multiplies, a
/// concat); then for each of the S label slots `if gt_ignore[j]`, a host read of a GPU flag; then, for each
/// real box, about `kernels_per_box` tiny kernels interleaved with `syncs_per_box` host reads, the last
/// kernel being the `torch.max` of the box's Gaussian into the heat map. The flags are one GPU tensor, so
/// only the first read copies it (the simulator copies a value once); the later reads pay their host
/// dispatch only. How many of the S slots hold a real box depends on the scene: `real_boxes` per sample is
/// an assumption of the workload file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterNetTargets {
    pub real_boxes: usize,
    #[serde(default = "kernels_per_box")]
    pub kernels_per_box: usize,
    #[serde(default = "syncs_per_box")]
    pub syncs_per_box: usize,
}

/// A host read of a GPU value (`.item()`, `bool()`, `int()`): no work beyond its dispatch.
fn host_read(b: &mut GraphBuilder, name: &str, what: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
    let h = HostWork { label: what.into(), output: vec![], flops_per_sample: 0, bytes_per_sample: 0, threads: Some(1), dtype: crate::graph::DType::F32, batch: b.batch() };
    b.add(name, Op::HostWork(h), &[x])
}

impl Block for CenterNetTargets {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let [label, ignore, heat] = inputs_n(b, inputs, "centernet_targets", "label, ignore flags, heat-map target")?;
        let (batch, slots) = match b.shape(label) {
            [bb, s, f] if *f >= 2 => (*bb, *s),
            s => return Err(b.error("centernet_targets", format!("expects labels [B, S, 7], got {}", fmt_shape(s)))),
        };
        if b.shape(ignore) != [batch, slots] || self.real_boxes > slots || self.syncs_per_box >= self.kernels_per_box {
            return Err(b.error(
                "centernet_targets",
                format!(
                    "expects ignore flags [{batch}, {slots}], real_boxes <= {slots} and syncs_per_box < kernels_per_box; got {}",
                    fmt_shape(b.shape(ignore))
                ),
            ));
        }
        let [_, _, fh, _] = rank4(b, heat, "centernet_targets")?;
        // Box centres are in LiDAR pixels (256 per side); the targets live on the H x W feature grid.
        let ratio = fh as f32 / 256.0;
        let mut heat = heat;
        for s in 0..batch {
            heat = b.scope(&format!("sample{s}"), |b| {
                let bbox = b.slice("gt_bbox", label, 0, s as i64, Some(s as i64 + 1))?;
                let mut coords = Vec::new();
                for (axis, name) in ["x", "y"].iter().enumerate() {
                    let c = b.slice(&format!("center_{name}"), bbox, 2, axis as i64, Some(axis as i64 + 1))?;
                    coords.push(b.unary(&format!("center_{name}_scaled"), UnaryFn::Scale { factor: ratio, offset: 0.0 }, c)?);
                }
                let centers = b.concat("gt_centers", &coords, 2)?;
                let mut heat = heat;
                for j in 0..slots {
                    host_read(b, &format!("ignore{j}"), "if gt_ignore[j]", ignore)?;
                    if j >= self.real_boxes {
                        continue;
                    }
                    heat = b.scope(&format!("box{j}"), |b| {
                        let ct = b.slice("ct", centers, 1, j as i64, Some(j as i64 + 1))?;
                        let mut v = b.slice("ctx", ct, 2, 0, Some(1))?;
                        // Syncs after evenly spaced kernels; the last kernel writes the heat map.
                        let mut next_sync = 1;
                        for k in 0..self.kernels_per_box - 1 {
                            v = b.unary(&format!("k{k}"), UnaryFn::Scale { factor: 1.0, offset: 0.0 }, v)?;
                            // With fewer syncs than kernels no two syncs follow the same kernel.
                            if next_sync <= self.syncs_per_box && (k + 1) * self.syncs_per_box >= next_sync * (self.kernels_per_box - 1) {
                                host_read(b, &format!("sync{next_sync}"), "int()/bool() of a GPU scalar", v)?;
                                next_sync += 1;
                            }
                        }
                        b.binary("gaussian_max", BinaryKind::Maximum, heat, v)
                    })?;
                }
                Ok(heat)
            })?;
        }
        Ok(heat)
    }
}

/// Which mmdetection loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// `GaussianFocalLoss` (alpha 2, gamma 4) of the heat map; takes no weight.
    GaussianFocal,
    L1,
    /// `SmoothL1Loss` (beta 1).
    SmoothL1,
    /// `CrossEntropyLoss` over the class axis of `[B, C, H, W]` scores.
    CrossEntropy,
}

fn one_f32() -> f32 {
    1.0
}
fn one_f64() -> f64 {
    1.0
}

/// `mmdet_loss: {kind: l1, loss_weight: 0.1, avg_factor_scale: 2}`: inputs `[pred, target, weight,
/// avg_factor]` (`gaussian_focal`: `[pred, target, avg_factor]`); output the scalar loss. Every kernel of
/// the eager code is one op; comparisons are costed as a range test (`keep_range`) and `torch.where` as a
/// two-input `maximum`, the nearest ops of the catalogue. The loss is reduced as mmdetection's
/// `weight_reduce_loss` does: `(loss * weight).sum() / (avg_factor + eps)`, then `loss_weight *` it.
/// `avg_factor` is a GPU scalar, so `avg_factor * 2` (size and offset losses) and `+ eps` are kernels too.
/// mmdetection's cross-entropy is unreduced `[B, H, W]` times a `[B, 1, H, W]` weight, which broadcasts to
/// `[B, B, H, W]` in TransFuser; here the unreduced loss keeps the class axis (`[B, C, H, W]`, the gather
/// costed as a multiply of the scores by the target), a similar size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmdetLoss {
    pub kind: LossKind,
    #[serde(default = "one_f32")]
    pub loss_weight: f32,
    /// The caller's `avg_factor * 2` (size and offset losses, which have two channels).
    #[serde(default = "one_f64")]
    pub avg_factor_scale: f64,
}

impl MmdetLoss {
    fn body(&self, b: &mut GraphBuilder, pred: NodeIndex, target: NodeIndex) -> BuildResult<NodeIndex> {
        let scale = |factor: f32, offset: f32| UnaryFn::Scale { factor, offset };
        let compare = UnaryFn::KeepRange { low: 0.0, high: 1.0 };
        match self.kind {
            LossKind::GaussianFocal => {
                // pos = t.eq(1); neg = (1 - t)^4; -(p + eps).log() * (1 - p)^2 * pos + -(1 - p + eps).log() * p^2 * neg
                const EPS: f32 = 1e-12;
                let pos_w = b.unary("pos_weights", compare, target)?;
                let one_minus_t = b.unary("one_minus_t", scale(-1.0, 1.0), target)?;
                let neg_w = b.unary("neg_weights", UnaryFn::Pow { exponent: 4.0 }, one_minus_t)?;
                let p_eps = b.unary("p_eps", scale(1.0, EPS), pred)?;
                let log_p = b.unary("log_p", UnaryFn::Log, p_eps)?;
                let neg_log_p = b.unary("neg_log_p", scale(-1.0, 0.0), log_p)?;
                let one_minus_p = b.unary("one_minus_p", scale(-1.0, 1.0), pred)?;
                let focal_pos = b.unary("one_minus_p_sq", UnaryFn::Pow { exponent: 2.0 }, one_minus_p)?;
                let pos = b.binary("pos_focal", BinaryKind::Mul, neg_log_p, focal_pos)?;
                let pos = b.binary("pos_loss", BinaryKind::Mul, pos, pos_w)?;
                let q = b.unary("one_minus_p2", scale(-1.0, 1.0), pred)?;
                let q_eps = b.unary("q_eps", scale(1.0, EPS), q)?;
                let log_q = b.unary("log_q", UnaryFn::Log, q_eps)?;
                let neg_log_q = b.unary("neg_log_q", scale(-1.0, 0.0), log_q)?;
                let focal_neg = b.unary("p_sq", UnaryFn::Pow { exponent: 2.0 }, pred)?;
                let neg = b.binary("neg_focal", BinaryKind::Mul, neg_log_q, focal_neg)?;
                let neg = b.binary("neg_loss", BinaryKind::Mul, neg, neg_w)?;
                b.binary("focal", BinaryKind::Add, pos, neg)
            }
            LossKind::L1 => {
                let d = b.binary("diff", BinaryKind::Sub, pred, target)?;
                b.unary("abs", UnaryFn::Abs, d)
            }
            LossKind::SmoothL1 => {
                // diff = |p - t|; where(diff < 1, 0.5 * diff * diff / 1, diff - 0.5)
                let d = b.binary("diff", BinaryKind::Sub, pred, target)?;
                let d = b.unary("abs", UnaryFn::Abs, d)?;
                b.unary("lt_beta", compare, d)?;
                let half = b.unary("half_diff", scale(0.5, 0.0), d)?;
                let sq = b.binary("half_diff_sq", BinaryKind::Mul, half, d)?;
                let quad = b.unary("div_beta", scale(1.0, 0.0), sq)?;
                let lin = b.unary("diff_minus_half_beta", scale(1.0, -0.5), d)?;
                b.binary("where", BinaryKind::Maximum, quad, lin)
            }
            LossKind::CrossEntropy => {
                let logp = b.softmax("log_softmax", pred, 1)?;
                b.binary("nll", BinaryKind::Mul, logp, target)
            }
        }
    }
}

impl Block for MmdetLoss {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let (pred, target, weight, avg) = match (self.kind, inputs) {
            (LossKind::GaussianFocal, [p, t, a]) => (*p, *t, None, *a),
            (LossKind::GaussianFocal, _) => return Err(b.error("mmdet_loss", format!("a Gaussian focal loss takes 3 inputs (pred, target, avg_factor), got {}", inputs.len()))),
            (_, [p, t, w, a]) => (*p, *t, Some(*w), *a),
            _ => return Err(b.error("mmdet_loss", format!("takes 4 inputs (pred, target, weight, avg_factor), got {}", inputs.len()))),
        };
        if !b.shape(avg).is_empty() {
            return Err(b.error("mmdet_loss", format!("avg_factor must be a scalar [], got {}", fmt_shape(b.shape(avg)))));
        }
        let mut loss = self.body(b, pred, target)?;
        if let Some(w) = weight {
            loss = b.binary("weighted", BinaryKind::Mul, loss, w)?;
        }
        let axes: Vec<i64> = (0..b.shape(loss).len() as i64).collect();
        let total = b.reduce("sum", ReduceKind::Sum, loss, &axes, false)?;
        let mut avg = avg;
        if self.avg_factor_scale != 1.0 {
            avg = b.unary("avg_factor_scaled", UnaryFn::Scale { factor: self.avg_factor_scale as f32, offset: 0.0 }, avg)?;
        }
        let avg = b.unary("avg_factor_eps", UnaryFn::Scale { factor: 1.0, offset: f32::EPSILON }, avg)?;
        let mean = b.binary("mean", BinaryKind::Div, total, avg)?;
        b.unary("loss_weight", UnaryFn::Scale { factor: self.loss_weight, offset: 0.0 }, mean)
    }
}

/// `loss_readback`: inputs the scalar losses in the order of the model's loss dictionary; output the last read.
/// The validation loop (`Engine.validate`) starts a total with `torch.tensor(0.0).to(device)` (a host tensor
/// copied over: an input here), then per loss multiplies it by its weight and adds it to the total (two
/// kernels) and reads it back with `.item()`; finally it reads the total. The weights do not change the cost.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossReadback {}

impl Block for LossReadback {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        if inputs.is_empty() {
            return Err(b.error("loss_readback", "`loss_readback` needs at least one loss"));
        }
        let mut total = b.input("total0", &[], DType::F32)?;
        for (i, &loss) in inputs.iter().enumerate() {
            if !b.shape(loss).is_empty() {
                return Err(b.error("loss_readback", format!("loss {i} must be a scalar [], got {}", fmt_shape(b.shape(loss)))));
            }
            let w = b.unary(&format!("weighted{i}"), UnaryFn::Scale { factor: 1.0, offset: 0.0 }, loss)?;
            total = b.binary(&format!("total{}", i + 1), BinaryKind::Add, total, w)?;
            host_read(b, &format!("item{i}"), "value.item()", loss)?;
        }
        host_read(b, "total_item", "loss.item()", total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::workload::Workload;

    /// GPT(C) as one block on TransFuser's stage-`C` maps at batch `batch`.
    fn gpt(c: usize, image: [usize; 2], lidar: [usize; 2], batch: usize) -> (Workload, NodeIndex) {
        let mut b = GraphBuilder::new(batch);
        let i = b.input("image", &[batch, c, image[0], image[1]], DType::F32).unwrap();
        let l = b.input("lidar", &[batch, c, lidar[0], lidar[1]], DType::F32).unwrap();
        let params = Gpt { heads: 4, layers: 4, expansion: 4, anchors: Anchors::default() };
        let y = b.scope("gpt", |b| params.build(b, &[i, l])).unwrap();
        (b.finish("gpt", "", vec![y]), y)
    }

    #[test]
    fn gpt_parameters_match_workloads_table() {
        // WORKLOADS.md §11.3: positional table 174 C + 4 layers x (12 C^2 + 13 C) + final LayerNorm 2 C.
        for (c, params) in [(72, 265_248), (216, 2_288_736), (576, 16_056_576), (1512, 110_079_648)] {
            let (w, y) = gpt(c, [5, 22], [8, 8], 1);
            assert_eq!(w.params(), params, "GPT({c})");
            assert_eq!(w.graph[y].output.shape, [1, 174, c]);
        }
    }

    #[test]
    fn gpt_launches_83_kernels_per_exchange() {
        // Two adaptive pools, two permute copies, the concat, the positional add, 19 kernels per layer
        // (2 LayerNorms, Q/K/V, three head copies (matmul makes q, k and v contiguous), scores, scale,
        // softmax, context, merge copy, projection, residual, fc1, ReLU, fc2, residual) and the final
        // LayerNorm: 6 + 76 + 1.
        let (w, _) = gpt(72, [40, 176], [64, 64], 10);
        assert_eq!(w.kernels(), 83);
        let copies = w.nodes().filter(|(_, n)| n.op.kind() == "permute" && n.cost.kernels == 1).count();
        assert_eq!(copies, 2 + 4 * 4, "token permutes and four copies per attention");
    }

    #[test]
    fn gpt_split_returns_each_stream_at_its_resolution() {
        // Stage 1 at B = 10 (WORKLOADS.md §11.3): image [10, 72, 40, 176], LiDAR [10, 72, 64, 64].
        let mut b = GraphBuilder::new(10);
        let t = b.input("tokens", &[10, 174, 72], DType::F32).unwrap();
        let image = b.input("image", &[10, 72, 40, 176], DType::F32).unwrap();
        let lidar = b.input("lidar", &[10, 72, 64, 64], DType::F32).unwrap();
        let split = |side| GptSplit { side, anchors: Anchors::default() };
        let yi = b.scope("image", |b| split(GptSide::Image).build(b, &[t, image])).unwrap();
        let yl = b.scope("lidar", |b| split(GptSide::Lidar).build(b, &[t, lidar])).unwrap();
        assert_eq!(b.shape(yi), [10, 72, 40, 176]);
        assert_eq!(b.shape(yl), [10, 72, 64, 64]);
        let w = b.finish("t", "", vec![yi, yl]);
        // Per side: the slice copy (the batch axis precedes the token axis), the resize and the add.
        assert_eq!(w.kernels(), 6);
        let slice = w.nodes().find(|(_, n)| n.name == "lidar/slice").unwrap().1;
        assert_eq!(slice.output.shape, [10, 64, 72]);
        // A token count that does not match the grids is refused.
        let mut b = GraphBuilder::new(1);
        let t = b.input("tokens", &[1, 100, 72], DType::F32).unwrap();
        let s = b.input("s", &[1, 72, 8, 8], DType::F32).unwrap();
        assert!(split(GptSide::Lidar).build(&mut b, &[t, s]).unwrap_err().message.contains("[1, 174, 72]"));
        // Other anchor grids come from YAML: a 10x10 image grid gives 100 image tokens before the 64 LiDAR ones.
        let yaml: serde_yaml::Value = serde_yaml::from_str("{side: lidar, anchors: {image: [10, 10]}}").unwrap();
        let block = crate::graph::blocks::parse_block("gpt_split", &yaml).unwrap().unwrap();
        let mut b = GraphBuilder::new(1);
        let t = b.input("tokens", &[1, 164, 72], DType::F32).unwrap();
        let s = b.input("s", &[1, 72, 16, 16], DType::F32).unwrap();
        let y = block.build(&mut b, &[t, s]).unwrap();
        assert_eq!(b.shape(y), [1, 72, 16, 16]);
    }

    /// The waypoint decoder on B = 10.
    fn waypoints(steps: usize) -> (Workload, NodeIndex) {
        let mut b = GraphBuilder::new(10);
        let f = b.input("fused", &[10, 512], DType::F32).unwrap();
        let tp = b.input("target_point", &[10, 2], DType::F32).unwrap();
        let p = WaypointGru { steps, mlp: mlp_widths(), lidar_x: lidar_x() };
        let y = b.scope("wp", |b| p.build(b, &[f, tp])).unwrap();
        (b.finish("t", "", vec![y]), y)
    }

    #[test]
    fn waypoint_decoder_has_186_115_parameters_shared_by_its_steps() {
        // WORKLOADS.md §11.4: join 131,328 + 32,896 + 8,256; GRUCell(4, 64) 3 (64 x 4 + 64^2 + 2 x 64) = 13,440;
        // output Linear 64 -> 3: 195. The steps reuse the cell and the output layer.
        let (w, y) = waypoints(4);
        assert_eq!(w.params(), 186_115);
        assert_eq!(w.graph[y].output.shape, [10, 4, 2]);
        assert_eq!(waypoints(8).0.params(), 186_115, "more steps, same weights");
        // join 6, clone and negate 2, per step concat + W_ih + 2 cell kernels + output + slice + add = 7,
        // stack, frame shift.
        assert_eq!(w.kernels(), 6 + 2 + 4 * 7 + 1 + 1);
        // Each step's GRU input is [previous waypoint, target point].
        let x_in = w.nodes().find(|(_, n)| n.name == "wp/step2/x_in").unwrap().1;
        assert_eq!(x_in.output.shape, [10, 4]);
    }

    fn detection_inputs(b: &mut GraphBuilder) -> (NodeIndex, NodeIndex, NodeIndex) {
        let label = b.input("label", &[10, 20, 7], DType::F32).unwrap();
        let ignore = b.input("ignore", &[10, 20], DType::F32).unwrap();
        let heat = b.input("heat", &[10, 1, 64, 64], DType::F32).unwrap();
        (label, ignore, heat)
    }

    #[test]
    fn target_loop_launches_tiny_kernels_and_reads_the_gpu_back() {
        // Per sample: 5 centre kernels, 20 flag reads; per real box 70 kernels (the last into the heat map) and
        // 15 reads. B = 10 with 4 real boxes of 20 slots.
        let mut b = GraphBuilder::new(10);
        let (label, ignore, heat) = detection_inputs(&mut b);
        let p = CenterNetTargets { real_boxes: 4, kernels_per_box: 70, syncs_per_box: 15 };
        let y = b.scope("targets", |b| p.build(b, &[label, ignore, heat])).unwrap();
        assert_eq!(b.shape(y), [10, 1, 64, 64]);
        let w = b.finish("t", "", vec![y]);
        let host = w.nodes().filter(|(_, n)| matches!(n.op, Op::HostWork(_))).count();
        let gpu = w.nodes().filter(|(_, n)| n.cost.kernels > 0 && !matches!(n.op, Op::HostWork(_))).count();
        assert_eq!(host, 10 * (20 + 4 * 15));
        assert_eq!(gpu, 10 * (5 + 4 * 70));
        // Every box reads back a value its own kernels produced, so each read waits for the GPU.
        let box_reads: Vec<_> = w.nodes().filter(|(_, n)| n.name.contains("/sync")).map(|(_, n)| n.inputs[0]).collect();
        let distinct: std::collections::HashSet<_> = box_reads.iter().collect();
        assert_eq!(distinct.len(), box_reads.len());
        // The heat map passes through every box's Gaussian.
        let maxes = w.nodes().filter(|(_, n)| n.name.ends_with("gaussian_max")).count();
        assert_eq!(maxes, 40);
    }

    #[test]
    fn target_loop_without_real_boxes_only_reads_flags() {
        let mut b = GraphBuilder::new(10);
        let (label, ignore, heat) = detection_inputs(&mut b);
        let p = CenterNetTargets { real_boxes: 0, kernels_per_box: 70, syncs_per_box: 15 };
        let y = p.build(&mut b, &[label, ignore, heat]).unwrap();
        assert_eq!(y, heat);
        let w = b.finish("t", "", vec![]);
        assert_eq!(w.nodes().filter(|(_, n)| matches!(n.op, Op::HostWork(_))).count(), 200);
        let too_many = CenterNetTargets { real_boxes: 21, kernels_per_box: 70, syncs_per_box: 15 };
        let mut b = GraphBuilder::new(10);
        let (label, ignore, heat) = detection_inputs(&mut b);
        assert!(too_many.build(&mut b, &[label, ignore, heat]).is_err());
    }

    /// Kernels of one mmdet loss on [10, k, 64, 64] maps.
    fn loss_kernels(kind: LossKind, k: usize, avg_factor_scale: f64) -> (u64, Vec<usize>) {
        let mut b = GraphBuilder::new(10);
        // Cross-entropy reads one class id per pixel; the other losses compare k channels with k channels.
        let tk = if kind == LossKind::CrossEntropy { 1 } else { k };
        let pred = b.input("pred", &[10, k, 64, 64], DType::F32).unwrap();
        let target = b.input("target", &[10, tk, 64, 64], DType::F32).unwrap();
        let weight = b.input("weight", &[10, tk, 64, 64], DType::F32).unwrap();
        let avg = b.input("avg", &[], DType::F32).unwrap();
        let inputs = if kind == LossKind::GaussianFocal { vec![pred, target, avg] } else { vec![pred, target, weight, avg] };
        let l = MmdetLoss { kind, loss_weight: 1.0, avg_factor_scale };
        let y = b.scope("loss", |b| l.build(b, &inputs)).unwrap();
        let shape = b.shape(y).to_vec();
        (b.finish("t", "", vec![y]).kernels(), shape)
    }

    #[test]
    fn mmdet_losses_launch_the_eager_kernel_counts() {
        // Body + tail. Tail: weight multiply (not for the focal loss), sum, avg_factor (* 2) + eps, divide,
        // loss weight. Bodies: focal 18 kernels, L1 2 (sub, abs), smooth L1 8, cross-entropy 2 (log_softmax,
        // nll).
        assert_eq!(loss_kernels(LossKind::GaussianFocal, 1, 1.0), (18 + 4, vec![]));
        assert_eq!(loss_kernels(LossKind::L1, 2, 2.0), (2 + 6, vec![]));
        assert_eq!(loss_kernels(LossKind::L1, 1, 1.0), (2 + 5, vec![]));
        assert_eq!(loss_kernels(LossKind::SmoothL1, 1, 1.0), (8 + 5, vec![]));
        assert_eq!(loss_kernels(LossKind::CrossEntropy, 12, 1.0), (2 + 5, vec![]));
    }

    #[test]
    fn readback_adds_and_reads_every_loss() {
        let mut b = GraphBuilder::new(10);
        let losses: Vec<NodeIndex> = (0..11).map(|i| b.input(&format!("l{i}"), &[], DType::F32).unwrap()).collect();
        b.scope("readback", |b| LossReadback {}.build(b, &losses)).unwrap();
        let w = b.finish("t", "", vec![]);
        assert_eq!(w.kernels(), 11 * 2 + 12, "a scale and an add per loss, 12 host reads");
        let reads = w.nodes().filter(|(_, n)| matches!(n.op, Op::HostWork(_))).count();
        assert_eq!(reads, 12);
        let mut b = GraphBuilder::new(10);
        let v = b.input("v", &[10], DType::F32).unwrap();
        assert!(LossReadback {}.build(&mut b, &[v]).unwrap_err().message.contains("scalar"));
    }
}
