//! Memory layout as an eager framework keeps it. PyTorch's `permute` of an image stored `[N, H, W, C]` to
//! `[N, C, H, W]` moves no data: the result is a channels-last tensor, and convolutions, norms, pools and
//! element-wise ops on it keep that layout (their outputs are channels-last too) until an op that needs
//! contiguous rows (a reshape, a linear layer) copies it. cuDNN runs 2-D convolutions of channels-last tensors
//! in other kernels than contiguous ones (layout transforms around them in strict fp32), so a calibrated
//! runtime describes them apart (`conv2d@channels_last`).

use super::{Op, Workload};

/// [`Op::variant`]-like suffix of a 2-D convolution that reads a channels-last tensor.
pub const CHANNELS_LAST: &str = "channels_last";

/// Per node (by index): whether its output is a channels-last tensor.
pub fn channels_last(w: &Workload) -> Vec<bool> {
    let mut out = vec![false; w.len()];
    // Nodes are numbered in program order: every input precedes its consumers.
    for (idx, node) in w.nodes() {
        let first = node.inputs.first().is_some_and(|i| out[i.index()]);
        out[idx.index()] = match &node.op {
            Op::Permute(p) => p.perm == [0, 3, 1, 2] && !first,
            Op::Conv(c) => c.dims == 2 && !c.transposed && first,
            Op::BatchNorm(_) | Op::Unary(_) | Op::Pool(_) | Op::Upsample(_) => first,
            Op::Binary(_) => node.inputs.iter().any(|i| out[i.index()]),
            _ => false,
        };
    }
    out
}

/// The variant an op runs as, given whether its first input is channels-last: a 2-D convolution of a
/// channels-last tensor is [`CHANNELS_LAST`], else the op's own [`Op::variant`].
pub fn variant_of(op: &Op, channels_last_input: bool) -> Option<&'static str> {
    match op {
        Op::Conv(c) if channels_last_input && c.dims == 2 && !c.transposed => Some(CHANNELS_LAST),
        _ => op.variant(),
    }
}

/// Per node: [`variant_of`] with the layouts of `w`.
pub fn variants(w: &Workload) -> Vec<Option<&'static str>> {
    let layouts = channels_last(w);
    w.nodes().map(|(_, n)| variant_of(&n.op, n.inputs.first().is_some_and(|i| layouts[i.index()]))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ops::Conv;
    use crate::graph::{DType, GraphBuilder, Stage};

    fn conv3x3() -> Op {
        Op::Conv(Conv { dims: 2, transposed: false, out: 8, kernel: vec![3; 2], stride: vec![1; 2], padding: vec![1; 2], dilation: vec![1; 2], output_padding: vec![0; 2], groups: 1, bias: true })
    }

    #[test]
    fn a_permuted_image_stays_channels_last_through_convolutions_until_a_reshape() {
        let mut b = GraphBuilder::new(1);
        b.set_stage(Stage::Encoder, Some("rgb"));
        let x = b.input("x", &[1, 32, 32, 3], DType::F32).unwrap();
        let nchw = b.permute("nchw", x, &[0, 3, 1, 2]).unwrap();
        let conv = b.add("conv", conv3x3(), &[nchw]).unwrap();
        let act = b.relu("relu", conv).unwrap();
        let conv2 = b.add("conv2", conv3x3(), &[act]).unwrap();
        let flat = b.reshape("flat", conv2, &[1, 8 * 32 * 32]).unwrap();
        // A contiguous image's convolution is not channels-last.
        let y = b.input("y", &[1, 3, 32, 32], DType::F32).unwrap();
        let plain = b.add("plain", conv3x3(), &[y]).unwrap();
        let w = b.finish("t", "", vec![flat, plain]);
        let cl = channels_last(&w);
        for (node, want) in [(nchw, true), (conv, true), (act, true), (conv2, true), (flat, false), (plain, false), (x, false)] {
            assert_eq!(cl[node.index()], want, "{}", w.node(node).name);
        }
        let v = variants(&w);
        assert_eq!(v[conv.index()], Some(CHANNELS_LAST));
        assert_eq!(v[conv2.index()], Some(CHANNELS_LAST));
        assert_eq!(v[plain.index()], None);
        assert_eq!(w.node(conv).op.launch_key_as(v[conv.index()]), "conv2d+bias@channels_last");
    }
}
