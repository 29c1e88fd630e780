//! Ops whose tensors lie in buffers larger than one storage binding, run in pieces. A buffer may exceed what
//! one binding covers (lavapipe binds 128 MiB of a buffer at once), so an op that touches such a buffer is
//! cut along the output axes its semantics keeps independent: each piece is a box of the output that is
//! contiguous in memory (leading axes at single positions, one axis a range, the rest whole), and every
//! input and parameter is narrowed to what that box reads. The family's own dispatch function describes
//! each piece as if it were the whole op, and the piece binds each large buffer as one window around the
//! tensors it touches there, the tensors' offsets rebased onto the window.
//!
//! Pieces are the largest boxes that fit, found from the outermost axis in: an op whose buffers all fit is
//! never split at all, and one that only reads a view of a large buffer is one piece with windows. Families
//! cut further what no box makes fit where they can: the GEMM splits a large weight along k, convolutions
//! accumulate runs of input channels. What still does not fit is refused by the plan, naming the node.

use super::kernels::{self, longest_fit, Dispatch, OpArgs, TensorRef};
use crate::error::{Error, Result};
use crate::graph::tensor::norm_axis;
use crate::graph::Op;
use std::collections::HashMap;
use std::ops::Range;

/// How one tensor of an op follows a box of the output.
#[derive(Debug, Clone)]
enum Follow {
    /// Output axis `d` indexes the tensor's axis `axes[d]` (or none of its axes); an axis of size 1 is
    /// broadcast and stays whole.
    Axes(Vec<Option<usize>>),
    /// A concat input: it shares the output's other axes and fills the output along `axis` from position
    /// `start`. A box that misses it leaves it out of the piece; a box that fixes the concat axis to one
    /// position reads one input only, so the axes after it can be cut too.
    Segment { axis: usize, start: usize },
    /// Never narrowed, and not counted when fitting a piece: the family binds it in windows itself (the
    /// weight of a linear, split along k).
    ByFamily,
}

/// Which leading output axes of an op are independent, and how its tensors follow them.
#[derive(Debug)]
struct Rule {
    /// Output axes `0..lead` may be split.
    lead: usize,
    inputs: Vec<Follow>,
    params: Vec<Follow>,
}

/// Tensor axes `0..n` follow output axes `0..n`.
fn same(n: usize) -> Follow {
    Follow::Axes((0..n).map(Some).collect())
}

/// Not narrowed by any of the first `n` output axes.
fn whole(n: usize) -> Follow {
    Follow::Axes(vec![None; n])
}

/// A tensor of rank `rank` aligned to the right of `out_rank` output axes, as broadcasting aligns it.
fn aligned(rank: usize, out_rank: usize, n: usize) -> Follow {
    Follow::Axes((0..n).map(|d| (d + rank).checked_sub(out_rank)).collect())
}

/// Per-channel parameters (`[C]`, indexed by output axis 1).
fn per_channel(n: usize) -> Follow {
    Follow::Axes((0..n).map(|d| (d == 1).then_some(0)).collect())
}

/// The rule of `a`'s op, or `None` for ops that are never split (a recurrent cell keeps its GEMM's result
/// past its output, where no box of the output reaches).
fn rule(a: &OpArgs) -> Result<Option<Rule>> {
    let r = a.output.shape().len();
    // Every axis but the last (the features of a row), every one but the last two (those of a matrix).
    let (rows, matrices) = (r.saturating_sub(1), r.saturating_sub(2));
    let x = a.inputs.first().map(|t| t.shape()).unwrap_or_default();
    let (lead, inputs) = match &a.node.op {
        Op::Unary(_) => (r, vec![same(r)]),
        Op::Binary(_) => (r, a.inputs.iter().map(|t| aligned(t.shape().len(), r, r)).collect()),
        Op::OuterProduct(_) => (rows, vec![same(rows), same(rows)]),
        Op::Reduce(red) => {
            let first = red.resolved_axes(x.len()).map_err(Error::Unsupported)?[0];
            (first, vec![same(first)])
        }
        Op::Softmax(s) => {
            let axis = norm_axis(s.axis, r).map_err(Error::Unsupported)?;
            (axis, vec![same(axis)])
        }
        Op::Concat(c) => {
            let axis = norm_axis(c.axis, r).map_err(Error::Unsupported)?;
            let starts = a.inputs.iter().scan(0, |at, t| {
                let start = *at;
                *at += t.shape()[axis];
                Some(start)
            });
            (r, starts.map(|start| Follow::Segment { axis, start }).collect())
        }
        Op::Permute(p) => {
            let lead = p.perm.iter().enumerate().take_while(|&(d, &q)| d == q).count();
            (lead, vec![same(lead)])
        }
        Op::Slice(s) => {
            let (axis, ..) = s.resolve(x).map_err(Error::Unsupported)?;
            (axis, vec![same(axis)])
        }
        // Batch and channels; the spatial axes are what the window of each output reads.
        Op::Pad(_) | Op::Pool(_) | Op::AdaptiveAvgPool(_) | Op::Upsample(_) | Op::InstanceNorm(_) => (r.min(2), vec![same(r.min(2))]),
        Op::BatchNorm(_) => (r, vec![same(r)]),
        Op::LayerNorm(l) => (r.saturating_sub(l.dims), vec![same(r.saturating_sub(l.dims))]),
        // Rows (or ids), never the output features.
        Op::Embedding(_) | Op::Linear(_) => (rows, vec![same(rows)]),
        Op::MatMul(_) => {
            // Batch axes (broadcast) and the rows of A; B has no rows.
            let follow = |rank: usize, row_axis: Option<usize>| {
                Follow::Axes((0..rows).map(|d| if d == matrices { row_axis } else { (d + rank).checked_sub(r) }).collect())
            };
            let (ra, rb) = (a.inputs[0].shape().len(), a.inputs[1].shape().len());
            (rows, vec![follow(ra, ra.checked_sub(2)), follow(rb, None)])
        }
        // The batch; channels are cut by the family (`kernels::conv`).
        Op::Conv(_) => (1, vec![same(1)]),
        _ => return Ok(None),
    };
    let params = (0..a.params.len())
        .map(|i| match &a.node.op {
            Op::BatchNorm(_) | Op::InstanceNorm(_) => per_channel(lead),
            Op::Linear(_) if i == 0 => Follow::ByFamily,
            _ => whole(lead),
        })
        .collect();
    Ok(Some(Rule { lead, inputs, params }))
}

/// A box of the output: axes before `at.len()` at the positions `at`, then one axis over `range` (all of it
/// when `None`), the rest whole. Contiguous in memory.
#[derive(Debug, Clone, PartialEq)]
struct Cut {
    at: Vec<usize>,
    range: Option<Range<usize>>,
}

impl Cut {
    /// (output axis, positions) of every axis the box narrows.
    fn ranges(&self) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        let fixed = self.at.iter().enumerate().map(|(d, &i)| (d, i..i + 1));
        fixed.chain(self.range.clone().map(|r| (self.at.len(), r)))
    }
}

/// `t` narrowed to `starts` and `sizes` per axis, which must be a contiguous block of it.
fn block(t: &TensorRef, starts: &[usize], sizes: Vec<usize>) -> Result<TensorRef> {
    let shape = t.shape();
    let first_long = sizes.iter().position(|&s| s > 1).unwrap_or(sizes.len());
    if sizes.iter().zip(shape).skip(first_long + 1).any(|(s, d)| s != d) {
        return Err(Error::Unsupported(format!("a piece {sizes:?} of a {shape:?} tensor is not contiguous")));
    }
    let strides = kernels::contiguous_strides(shape);
    let offset = t.offset + starts.iter().zip(&strides).map(|(&s, &st)| s as u64 * st).sum::<u64>();
    let mut info = t.info.clone();
    info.shape = sizes;
    Ok(TensorRef { buffer: t.buffer, offset, info })
}

/// What of `t` a box of the output reads, or `None` for a concat input the box misses.
fn narrow(t: &TensorRef, follow: &Follow, cut: &Cut) -> Result<Option<TensorRef>> {
    let shape = t.shape();
    let mut starts = vec![0; shape.len()];
    let mut sizes = shape.to_vec();
    for (d, r) in cut.ranges() {
        let (axis, r) = match follow {
            Follow::Axes(axes) => match axes.get(d).copied().flatten() {
                Some(j) if shape[j] != 1 => (j, r),
                _ => continue,
            },
            Follow::Segment { axis, start } if d == *axis => {
                let (lo, hi) = (r.start.max(*start), r.end.min(start + shape[d]));
                if lo >= hi {
                    return Ok(None);
                }
                (d, lo - start..hi - start)
            }
            Follow::Segment { .. } => (d, r),
            Follow::ByFamily => continue,
        };
        starts[axis] = r.start;
        sizes[axis] = r.len();
    }
    block(t, &starts, sizes).map(Some)
}

/// One piece of an op: its tensors, narrowed to what one box of the output touches. Parameters keep their
/// order (the rule's); concat inputs the box misses are left out.
struct Piece {
    inputs: Vec<TensorRef>,
    params: Vec<TensorRef>,
    output: TensorRef,
}

/// The dispatches of `a`: the family's own when every buffer it touches fits in one binding, else those of
/// its pieces, each binding windows of the large buffers (those over one binding; `buffer_bytes` gives a
/// plan buffer's size).
pub fn dispatches(a: &OpArgs, buffer_bytes: impl Fn(usize) -> u64) -> Result<Vec<Dispatch>> {
    let large = |b: usize| buffer_bytes(b) > a.caps.max_binding_bytes;
    let mut touched = a.inputs.iter().chain(a.params).chain(std::iter::once(a.output));
    if !touched.any(|t| large(t.buffer)) {
        return kernels::dispatches(a);
    }
    let Some(rule) = rule(a)? else {
        return kernels::dispatches(a);
    };
    let s = Splitter { a, rule, large };
    let mut cuts = Vec::new();
    if s.rule.lead == 0 {
        cuts.push(Cut { at: vec![], range: None });
    } else {
        s.cover(&[], &mut cuts);
    }
    let mut all = Vec::new();
    for cut in &cuts {
        all.extend(s.dispatches(cut)?);
    }
    Ok(all)
}

/// Cuts one op into pieces.
struct Splitter<'a, 'b, L: Fn(usize) -> bool> {
    a: &'a OpArgs<'b>,
    rule: Rule,
    /// Whether a plan buffer is larger than one binding.
    large: L,
}

impl<L: Fn(usize) -> bool> Splitter<'_, '_, L> {
    fn piece(&self, cut: &Cut) -> Result<Piece> {
        let mut inputs = Vec::with_capacity(self.a.inputs.len());
        for (t, f) in self.a.inputs.iter().zip(&self.rule.inputs) {
            inputs.extend(narrow(t, f, cut)?);
        }
        let params = self.a.params.iter().zip(&self.rule.params).map(|(t, f)| Ok(narrow(t, f, cut)?.unwrap_or_else(|| t.clone()))).collect::<Result<_>>()?;
        let output = narrow(self.a.output, &same(self.rule.lead), cut)?.unwrap_or_else(|| self.a.output.clone());
        Ok(Piece { inputs, params, output })
    }

    /// Element ranges per large buffer of the piece's tensors: all of them, or only those counted when
    /// fitting (not those the family windows itself).
    fn spans(&self, p: &Piece, all: bool) -> HashMap<usize, Range<u64>> {
        let params = p.params.iter().zip(&self.rule.params).filter(|(_, f)| all || !matches!(f, Follow::ByFamily)).map(|(t, _)| t);
        let mut spans: HashMap<usize, Range<u64>> = HashMap::new();
        for t in p.inputs.iter().chain(params).chain(std::iter::once(&p.output)).filter(|t| (self.large)(t.buffer)) {
            let s = spans.entry(t.buffer).or_insert(t.offset..t.offset);
            *s = s.start.min(t.offset)..s.end.max(t.offset + t.numel());
        }
        spans
    }

    fn fits(&self, cut: &Cut) -> bool {
        let caps = self.a.caps;
        self.piece(cut).is_ok_and(|p| self.spans(&p, false).values().all(|r| caps.fits(r.start, r.end - r.start)))
    }

    /// The largest boxes that fit, covering the output from axis `at.len()` on, with the axes before it at
    /// `at`. Where not even one position fits, the next axis is cut, down to single positions of every
    /// splittable axis (which the family may still cut further, or the plan refuses).
    fn cover(&self, at: &[usize], cuts: &mut Vec<Cut>) {
        let axis = at.len();
        let n = self.a.output.shape()[axis];
        let cut = |lo: usize, len: usize| Cut { at: at.to_vec(), range: Some(lo..lo + len) };
        let mut lo = 0;
        while lo < n {
            let len = longest_fit(lo, n, |lo, len| self.fits(&cut(lo, len)));
            if len > 0 {
                cuts.push(cut(lo, len));
                lo += len;
                continue;
            }
            if axis + 1 < self.rule.lead {
                self.cover(&[at, &[lo]].concat(), cuts);
            } else {
                cuts.push(cut(lo, 1));
            }
            lo += 1;
        }
    }

    /// The family's dispatches of one piece, every large buffer bound as the window around what the piece
    /// touches in it; windows the family sets itself are relative to that window.
    fn dispatches(&self, cut: &Cut) -> Result<Vec<Dispatch>> {
        let caps = self.a.caps;
        let mut p = self.piece(cut)?;
        let windows: HashMap<usize, (u64, u64)> = self.spans(&p, true).into_iter().map(|(b, r)| (b, caps.window(r.start, r.end - r.start))).collect();
        for t in p.inputs.iter_mut().chain(p.params.iter_mut()).chain(std::iter::once(&mut p.output)) {
            if let Some(&(start, _)) = windows.get(&t.buffer) {
                t.offset -= start / 4;
            }
        }
        let args = OpArgs { node: self.a.node, inputs: &p.inputs, params: &p.params, output: &p.output, caps };
        let mut dispatches = kernels::dispatches(&args)?;
        for d in &mut dispatches {
            for (j, buffer) in d.buffers.iter().enumerate() {
                let Some(&(start, size)) = windows.get(buffer) else { continue };
                match d.windows.iter_mut().find(|w| w.0 == j) {
                    Some(w) => w.1 += start,
                    None => d.windows.push((j, start, size)),
                }
            }
        }
        Ok(dispatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::kernels::DeviceCaps;
    use crate::exec::params::param_specs;
    use crate::graph::{GraphBuilder, TensorInfo};
    use petgraph::graph::NodeIndex;

    /// lavapipe's limits: 128 MiB per binding; windows at multiples of 256 bytes (WebGPU's default, more
    /// than lavapipe asks).
    fn lavapipe() -> DeviceCaps {
        DeviceCaps { max_groups: 65535, subgroups: false, tiled_gemm: false, max_binding_bytes: 128 << 20, binding_alignment: 256 }
    }

    /// The dispatches of the last op `build` adds, every tensor in its own buffer (sized as the plan sizes
    /// them), on lavapipe's limits.
    fn dispatches_of(build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) -> Vec<Dispatch> {
        let mut b = GraphBuilder::new(1);
        let i = build(&mut b);
        let w = b.finish("test", "", vec![i]);
        let node = w.node(i);
        let mut sizes = Vec::new();
        let mut tensor = |info: TensorInfo| {
            sizes.push((info.numel() * 4).next_multiple_of(16));
            TensorRef { buffer: sizes.len() - 1, offset: 0, info }
        };
        let inputs: Vec<TensorRef> = node.inputs.iter().map(|&p| tensor(w.node(p).output.clone())).collect();
        let infos: Vec<TensorInfo> = inputs.iter().map(|t| t.info.clone()).collect();
        let params: Vec<TensorRef> = param_specs(node, &infos).unwrap().into_iter().map(|s| tensor(TensorInfo::f32(s.shape))).collect();
        let output = tensor(node.output.clone());
        let caps = lavapipe();
        let args = OpArgs { node, inputs: &inputs, params: &params, output: &output, caps };
        let ds = dispatches(&args, |b| sizes[b]).unwrap();
        for d in &ds {
            for &(j, offset, size) in &d.windows {
                assert!(size <= caps.max_binding_bytes && offset.is_multiple_of(256) && offset + size <= sizes[d.buffers[j]], "{:?}", d.windows);
            }
        }
        ds
    }

    #[test]
    fn an_op_whose_buffers_fit_is_not_split() {
        let ds = dispatches_of(|b| {
            let x = b.input("x", &[1, 16, 64, 64, 64], crate::graph::DType::F32).unwrap();
            b.relu("relu", x).unwrap()
        });
        assert_eq!(ds.len(), 1);
        assert!(ds[0].windows.is_empty());
    }

    /// medical-seg's `x1/stack/concat`: four 64 MiB volumes into 256 MiB, two inputs per piece.
    #[test]
    fn medical_seg_stack_is_two_pieces_of_two_inputs() {
        let ds = dispatches_of(|b| {
            let parts: Vec<NodeIndex> = (0..4).map(|i| b.input(&format!("x{i}"), &[1, 1, 8, 128, 128, 128], crate::graph::DType::F32).unwrap()).collect();
            b.concat("stack", &parts, 1).unwrap()
        });
        assert_eq!(ds.len(), 4);
        let out_windows: Vec<(u64, u64)> = ds.iter().map(|d| d.windows.iter().find(|w| w.0 == 1).map(|w| (w.1, w.2)).unwrap()).collect();
        assert_eq!(out_windows, [(0, 128 << 20), (0, 128 << 20), (128 << 20, 128 << 20), (128 << 20, 128 << 20)]);
    }

    /// medical-seg's 256 MiB activations: two pieces of 16 channels; the 134 MiB padded volume likewise.
    #[test]
    fn medical_seg_volumes_are_two_pieces_of_channels() {
        let f32 = crate::graph::DType::F32;
        let relu = dispatches_of(|b| {
            let x = b.input("x", &[1, 32, 128, 128, 128], f32).unwrap();
            b.unary("leaky", crate::graph::ops::UnaryFn::LeakyRelu { slope: 0.01 }, x).unwrap()
        });
        assert_eq!(relu.len(), 2);
        let pad = dispatches_of(|b| {
            let x = b.input("x", &[1, 16, 128, 128, 128], f32).unwrap();
            b.add("pad", Op::Pad(crate::graph::ops::Pad { padding: vec![1], mode: crate::graph::ops::PadMode::Zeros }), &[x]).unwrap()
        });
        assert_eq!(pad.len(), 2);
    }

    /// A 3-D convolution of a 256 MiB input into 64 MiB: one batch item, two runs of 16 input channels.
    #[test]
    fn medical_seg_conv3d_accumulates_two_runs_of_input_channels() {
        let ds = dispatches_of(|b| {
            let x = b.input("x", &[1, 32, 128, 128, 128], crate::graph::DType::F32).unwrap();
            b.conv("conv", x, 3, 8, 3, 1, 1, true).unwrap()
        });
        assert_eq!(ds.len(), 2);
        let input_windows: Vec<(u64, u64)> = ds.iter().map(|d| d.windows.iter().find(|w| w.0 == 0).map(|w| (w.1, w.2)).unwrap()).collect();
        assert_eq!(input_windows, [(0, 128 << 20), (128 << 20, 128 << 20)]);
    }

    /// TransFuser at batch 10: a 137 MiB feature map is two pieces of the batch.
    #[test]
    fn transfuser_upsample_is_two_pieces_of_the_batch() {
        let ds = dispatches_of(|b| {
            let x = b.input("x", &[10, 32, 80, 352], crate::graph::DType::F32).unwrap();
            let up = crate::graph::ops::Upsample { scale: Some(2.0), size: None, mode: crate::graph::ops::UpsampleMode::Linear, align_corners: false };
            b.add("up", Op::Upsample(up), &[x]).unwrap()
        });
        assert_eq!(ds.len(), 2);
    }

    #[test]
    fn a_block_must_be_contiguous() {
        let t = TensorRef { buffer: 0, offset: 10, info: TensorInfo::f32([4, 5, 6]) };
        assert_eq!(block(&t, &[2, 1, 0], vec![1, 3, 6]).unwrap().offset, 10 + 2 * 30 + 6);
        assert!(block(&t, &[0, 1, 0], vec![2, 3, 6]).is_err());
        assert!(block(&t, &[0, 0, 1], vec![1, 5, 2]).is_err());
    }
}
