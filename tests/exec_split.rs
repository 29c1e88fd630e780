//! Ops whose tensors are larger than one storage binding run in pieces that bind windows, and equal the CPU
//! reference: on an adapter that binds 64 KiB at once, every family the workloads meet at real size
//! (lavapipe binds 128 MiB) is cut along its independent axes, its inputs and parameters narrowed with it;
//! convolutions also accumulate runs of input channels. An op that no cut makes fit is a clear error.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, graph, gpu_with_small_bindings, gpu_with_small_bindings_tiled, gpu_with_small_bindings_without_subgroups, SMALL_BINDING, TOLERANCE};
use mmbench::exec::check_on;
use mmbench::exec::context::Gpu;
use mmbench::exec::execute::Executor;
use mmbench::graph::ops::{
    AdaptiveAvgPool, BinaryKind, Conv, Embedding, InstanceNorm, LayerNorm, Pad, PadMode, Pool, PoolKind, ReduceKind, UnaryFn, Upsample, UpsampleMode,
};
use mmbench::graph::{DType, GraphBuilder, Op};
use petgraph::graph::NodeIndex;

/// Runs the graph on `gpu`, checks every op against the reference (every element written, relative L2 error
/// below 1e-4), and asserts that the ops named in `split` ran as more than one dispatch (in pieces) and that
/// some tensor of theirs is larger than one binding.
fn check_split_on(gpu: &Gpu, split: &[&str], build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) {
    let w = graph(build);
    let r = check_on(gpu, &w, TOLERANCE).unwrap_or_else(|e| panic!("running the graph failed: {e}"));
    assert_all_pass(&r).unwrap();
    let exec = Executor::new(gpu, &w).unwrap();
    for name in split {
        let step = exec.plan.steps.iter().find(|s| w.node(s.node).name == *name).unwrap_or_else(|| panic!("no op `{name}`"));
        let node = w.node(step.node);
        let largest = node.inputs.iter().map(|&i| w.node(i).output.bytes()).chain([node.output.bytes()]).max().unwrap();
        assert!(largest > SMALL_BINDING, "`{name}`: no tensor is larger than one binding ({largest} bytes)");
        assert!(step.dispatches.len() > 1, "`{name}` ran as one dispatch");
    }
}

fn check_split(split: &[&str], build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) {
    check_split_on(gpu_with_small_bindings(), split, build);
}

/// Values away from zero, so that a piece that reads the wrong place shows.
fn offset_input(b: &mut GraphBuilder, name: &str, shape: &[usize]) -> NodeIndex {
    let x = b.input(name, shape, DType::F32).unwrap();
    b.unary(&format!("{name}_shift"), UnaryFn::Scale { factor: 1.0, offset: 3.0 }, x).unwrap()
}

#[test]
fn unary_runs_in_pieces() {
    check_split(&["gelu"], |b| {
        let x = b.input("x", &[100_003], DType::F32).unwrap();
        b.unary("gelu", UnaryFn::Gelu, x).unwrap()
    });
}

#[test]
fn binary_of_equal_shapes_runs_in_pieces() {
    check_split(&["sub"], |b| {
        let x = b.input("x", &[300, 101], DType::F32).unwrap();
        let y = b.input("y", &[300, 101], DType::F32).unwrap();
        b.binary("sub", BinaryKind::Sub, x, y).unwrap()
    });
}

/// Each operand broadcasts along some axes (and one lacks the leading axis): pieces narrow an operand only
/// along the axes it has.
#[test]
fn binary_with_broadcast_runs_in_pieces() {
    check_split(&["mul", "mask"], |b| {
        let x = b.input("x", &[4, 1, 100, 50], DType::F32).unwrap();
        let y = b.input("y", &[6, 1, 50], DType::F32).unwrap();
        let z = b.binary("mul", BinaryKind::Mul, x, y).unwrap();
        // medical-seg's masked copy: a large tensor times a tiny broadcast mask.
        let m = b.input("m", &[1, 6, 1, 1], DType::F32).unwrap();
        b.binary("mask", BinaryKind::Mul, z, m).unwrap()
    });
}

/// medical-seg's stack: four volumes unsqueezed (views) and joined along axis 1 with batch 1; the pieces
/// take whole inputs.
#[test]
fn concat_along_axis_1_with_batch_1_runs_in_pieces() {
    check_split(&["stack"], |b| {
        let parts: Vec<NodeIndex> = (0..4)
            .map(|i| {
                let x = offset_input(b, &format!("x{i}"), &[1, 5, 40, 40]);
                b.unsqueeze(&format!("u{i}"), x, 1).unwrap()
            })
            .collect();
        b.concat("stack", &parts, 1).unwrap()
    });
}

/// Along a later axis: pieces along the batch, and with one batch item too large, pieces that end inside an
/// input (the cut along the concat axis narrows each input to its part) or inside one input's block.
#[test]
fn concat_along_a_later_axis_runs_in_pieces() {
    check_split(&["cat_batch", "cat_inside", "cat_one"], |b| {
        let x = b.input("x", &[2, 3, 50, 40], DType::F32).unwrap();
        let y = b.input("y", &[2, 3, 30, 40], DType::F32).unwrap();
        b.concat("cat_batch", &[x, y], 2).unwrap();
        let u = b.input("u", &[1, 1, 300, 40], DType::F32).unwrap();
        let v = b.input("v", &[1, 1, 200, 40], DType::F32).unwrap();
        b.concat("cat_inside", &[u, v], 2).unwrap();
        // Each input alone is larger than a binding: the cut fixes the concat axis and splits the next.
        let s = b.input("s", &[1, 2, 20, 1000], DType::F32).unwrap();
        let t = b.input("t", &[1, 1, 20, 1000], DType::F32).unwrap();
        b.concat("cat_one", &[s, t], 1).unwrap()
    });
}

#[test]
fn permute_runs_in_pieces() {
    check_split(&["p"], |b| {
        let x = b.input("x", &[40, 30, 20], DType::F32).unwrap();
        b.permute("p", x, &[0, 2, 1]).unwrap()
    });
}

#[test]
fn slice_runs_in_pieces() {
    check_split(&["s"], |b| {
        let x = b.input("x", &[4, 50, 100], DType::F32).unwrap();
        b.slice("s", x, 2, 10, Some(90)).unwrap()
    });
}

/// medical-seg's decoder pads a volume by one on every side.
#[test]
fn pad_runs_in_pieces() {
    check_split(&["pad", "reflect"], |b| {
        let x = offset_input(b, "x", &[1, 6, 20, 20, 20]);
        b.add("pad", Op::Pad(Pad { padding: vec![1], mode: PadMode::Zeros }), &[x]).unwrap();
        let y = offset_input(b, "y", &[2, 3, 60, 60]);
        b.add("reflect", Op::Pad(Pad { padding: vec![2], mode: PadMode::Reflect }), &[y]).unwrap()
    });
}

#[test]
fn pooling_runs_in_pieces() {
    check_split(&["max", "avg", "adaptive"], |b| {
        let x = offset_input(b, "x", &[2, 8, 40, 40]);
        b.add("max", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 2)), &[x]).unwrap();
        let a = Pool { padding: vec![1], ..Pool::new(PoolKind::Avg, 2, 3, 1) };
        let a = b.add("avg", Op::Pool(a), &[x]).unwrap();
        b.add("adaptive", Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![20, 20] }), &[a]).unwrap()
    });
}

/// TransFuser upsamples its feature maps; medical-seg's decoder upsamples volumes.
#[test]
fn upsampling_runs_in_pieces() {
    check_split(&["nearest", "bilinear", "trilinear"], |b| {
        let x = offset_input(b, "x", &[1, 4, 40, 40]);
        b.add("nearest", Op::Upsample(Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Nearest, align_corners: false }), &[x]).unwrap();
        b.add("bilinear", Op::Upsample(Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Linear, align_corners: true }), &[x]).unwrap();
        let v = offset_input(b, "v", &[1, 3, 10, 12, 12]);
        b.add("trilinear", Op::Upsample(Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Linear, align_corners: false }), &[v]).unwrap()
    });
}

/// Per-channel parameters follow the channel axis: narrowed to a run of channels, or to the one channel
/// of a piece inside it.
#[test]
fn batch_norm_runs_in_pieces() {
    check_split(&["bn_channels", "bn_inside"], |b| {
        let x = offset_input(b, "x", &[2, 8, 40, 40]);
        b.batch_norm("bn_channels", x).unwrap();
        let z = offset_input(b, "z", &[1, 2, 100, 100]);
        b.batch_norm("bn_inside", z).unwrap()
    });
}

/// medical-seg normalizes 128³ volumes per channel: pieces along the batch and along the channels, the
/// affine parameters narrowed with them.
#[test]
fn instance_norm_runs_in_pieces() {
    check_split(&["in_batch", "in_channels"], |b| {
        let x = offset_input(b, "x", &[2, 6, 40, 40]);
        b.add("in_batch", Op::InstanceNorm(InstanceNorm { affine: true }), &[x]).unwrap();
        let z = offset_input(b, "z", &[1, 12, 12, 12, 12]);
        b.add("in_channels", Op::InstanceNorm(InstanceNorm { affine: true }), &[z]).unwrap()
    });
}

#[test]
fn layer_norm_runs_in_pieces() {
    check_split(&["ln"], |b| {
        let x = offset_input(b, "x", &[3, 50, 200]);
        b.add("ln", Op::LayerNorm(LayerNorm { dims: 1, affine: true }), &[x]).unwrap()
    });
}

#[test]
fn softmax_runs_in_pieces() {
    check_split(&["sm_last", "sm_middle"], |b| {
        let x = b.input("x", &[30, 1000], DType::F32).unwrap();
        b.softmax("sm_last", x, 1).unwrap();
        let y = b.input("y", &[4, 50, 200], DType::F32).unwrap();
        b.softmax("sm_middle", y, 1).unwrap()
    });
}

#[test]
fn reduce_runs_in_pieces() {
    check_split(&["sum_rows", "mean_planes"], |b| {
        let x = b.input("x", &[40, 1000], DType::F32).unwrap();
        b.reduce("sum_rows", ReduceKind::Sum, x, &[1], true).unwrap();
        let y = b.input("y", &[2, 8, 40, 40], DType::F32).unwrap();
        b.reduce("mean_planes", ReduceKind::Mean, y, &[2, 3], false).unwrap()
    });
}

#[test]
fn embedding_runs_in_pieces() {
    check_split(&["emb"], |b| {
        let ids = b.input("ids", &[50, 40], DType::I64).unwrap();
        b.add("emb", Op::Embedding(Embedding { vocab: 100, dim: 32 }), &[ids]).unwrap()
    });
}

/// Rows of a large activation in pieces; with a weight too large as well, each piece's GEMM is also split
/// along k, its weight windows inside the piece's.
#[test]
fn linear_with_a_large_activation_runs_in_pieces() {
    check_split(&["fc", "fc_wide"], |b| {
        let x = b.input("x", &[300, 100], DType::F32).unwrap();
        b.linear("fc", x, 64, true).unwrap();
        let z = b.input("z", &[40, 700], DType::F32).unwrap();
        b.linear("fc_wide", z, 96, true).unwrap()
    });
}

#[test]
fn batched_matmul_runs_in_pieces() {
    check_split(&["mm"], |b| {
        let x = b.input("a", &[6, 50, 80], DType::F32).unwrap();
        let y = b.input("b", &[1, 80, 30], DType::F32).unwrap();
        b.matmul("mm", x, y, false, 0.5).unwrap()
    });
}

/// A reshape is a view of its producer's large buffer; the op reading it runs in pieces of the view. A small
/// slice of a large buffer is one piece, bound as a window at its offset.
#[test]
fn views_of_a_large_buffer_feed_ops() {
    check_split(&["relu"], |b| {
        let x = b.input("x", &[64, 1024], DType::F32).unwrap();
        let v = b.reshape("view", x, &[256, 256]).unwrap();
        b.relu("relu", v).unwrap();
        let y = b.input("y", &[1, 40, 1000], DType::F32).unwrap();
        let s = b.slice("tail", y, 1, 37, Some(39)).unwrap();
        b.linear("fc", s, 256, true).unwrap()
    });
}

/// A convolution on every kernel (with and without subgroups, and the tiled one of real GPUs), checked in
/// pieces.
fn check_conv(split: &[&str], build: impl Fn(&mut GraphBuilder) -> NodeIndex) {
    for g in [gpu_with_small_bindings(), gpu_with_small_bindings_without_subgroups(), gpu_with_small_bindings_tiled()] {
        check_split_on(g, split, &build);
    }
}

/// TransFuser at batch 10: every batch item fits, so pieces are runs of the batch.
#[test]
fn conv2d_runs_in_pieces_of_the_batch() {
    check_conv(&["conv"], |b| {
        let x = offset_input(b, "x", &[4, 3, 40, 40]);
        b.conv("conv", x, 2, 8, 3, 1, 1, true).unwrap()
    });
}

/// One batch item's input is larger than a binding: runs of input channels add up their partial sums, the
/// first with the bias.
#[test]
fn conv2d_accumulates_runs_of_input_channels() {
    check_conv(&["conv"], |b| {
        let x = offset_input(b, "x", &[1, 12, 40, 40]);
        b.conv("conv", x, 2, 4, 3, 1, 1, true).unwrap()
    });
}

#[test]
fn strided_padded_conv2d_accumulates_runs_of_input_channels() {
    check_conv(&["conv"], |b| {
        let x = offset_input(b, "x", &[2, 16, 36, 36]);
        b.conv("conv", x, 2, 8, 3, 2, 1, true).unwrap()
    });
}

/// One batch item's output is larger than a binding: runs of output channels, each reading its columns of
/// the weight and its part of the bias.
#[test]
fn conv2d_splits_its_output_channels() {
    check_conv(&["conv", "conv_both"], |b| {
        let x = offset_input(b, "x", &[1, 2, 64, 64]);
        b.conv("conv", x, 2, 20, 3, 1, 1, true).unwrap();
        // Input and output both too large: every (output run, input run) pair.
        let z = offset_input(b, "z", &[1, 6, 64, 64]);
        b.conv("conv_both", z, 2, 10, 3, 1, 1, false).unwrap()
    });
}

/// Grouped convolutions are cut into runs of whole groups; a transposed one accumulates like a forward one.
#[test]
fn grouped_and_transposed_convs_run_in_pieces() {
    check_conv(&["grouped", "depthwise", "transposed"], |b| {
        let x = offset_input(b, "x", &[1, 12, 40, 40]);
        let g = Conv { groups: 4, ..Conv::new(2, 8, 3, 1, 1, true) };
        b.add("grouped", Op::Conv(g), &[x]).unwrap();
        let d = Conv { groups: 12, ..Conv::new(2, 12, 3, 1, 1, false) };
        b.add("depthwise", Op::Conv(d), &[x]).unwrap();
        let t = Conv { transposed: true, stride: vec![2], ..Conv::new(2, 4, 2, 1, 0, true) };
        b.add("transposed", Op::Conv(t), &[x]).unwrap()
    });
}

/// medical-seg's 3-D convolutions at 128³: one batch item's input far larger than a binding.
#[test]
fn conv3d_accumulates_runs_of_input_channels() {
    check_conv(&["conv", "strided"], |b| {
        let x = offset_input(b, "x", &[1, 8, 16, 16, 16]);
        b.conv("conv", x, 3, 4, 3, 1, 1, true).unwrap();
        b.conv("strided", x, 3, 8, 3, 2, 1, true).unwrap()
    });
}

#[test]
fn conv3d_runs_in_pieces_of_the_batch() {
    check_conv(&["conv"], |b| {
        let x = offset_input(b, "x", &[3, 4, 12, 12, 12]);
        b.conv("conv", x, 3, 4, 3, 1, 1, false).unwrap()
    });
}

/// The error of a graph the small adapter cannot run.
fn refusal(build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) -> String {
    let w = graph(build);
    match check_on(gpu_with_small_bindings(), &w, TOLERANCE) {
        Ok(_) => panic!("the graph ran"),
        Err(e) => e.to_string(),
    }
}

/// No cut makes one row of a softmax (its own piece) fit, nor one channel plane of a convolution: both are
/// refused with the node, the kernel and the sizes, not a panic.
#[test]
fn an_op_no_split_makes_fit_is_a_clear_error() {
    let err = refusal(|b| {
        let x = b.input("x", &[2, 20_000], DType::F32).unwrap();
        b.softmax("softmax", x, 1).unwrap()
    });
    assert!(err.contains("`softmax`") && err.contains("kernel `softmax`") && err.contains("160000") && err.contains(&SMALL_BINDING.to_string()), "{err}");
    let err = refusal(|b| {
        let x = b.input("x", &[1, 2, 130, 130], DType::F32).unwrap();
        b.conv("conv", x, 2, 4, 3, 1, 1, true).unwrap()
    });
    assert!(err.contains("`conv`") && err.contains("kernel `conv`") && err.contains("67600") && err.contains(&SMALL_BINDING.to_string()), "{err}");
}

/// medical-seg's largest ops at their real size on the adapter's own limits (lavapipe binds 128 MiB): the
/// stack of four 64 MiB volumes, the masked copy and its 256 MiB view, a convolution of that view and one
/// of a 134 MiB padded volume, instance norm and leaky ReLU. Minutes of CPU reference, so run by hand:
/// `cargo test --release --test exec_split -- --ignored`.
#[test]
#[ignore = "minutes of CPU reference at real size"]
fn medical_seg_sized_ops_match_the_reference() {
    let r = exec_util::check_graph(|b| {
        let parts: Vec<NodeIndex> = (0..4)
            .map(|i| {
                let x = offset_input(b, &format!("x{i}"), &[1, 8, 128, 128, 128]);
                b.unsqueeze(&format!("u{i}"), x, 1).unwrap()
            })
            .collect();
        let stack = b.concat("stack", &parts, 1).unwrap();
        let mask = b.input("mask", &[1, 4, 1, 1, 1, 1], DType::F32).unwrap();
        let masked = b.binary("masked", BinaryKind::Mul, stack, mask).unwrap();
        let v = b.reshape("view", masked, &[1, 32, 128, 128, 128]).unwrap();
        b.conv("conv", v, 3, 8, 3, 1, 1, true).unwrap();
        let half = b.slice("half", v, 1, 0, Some(16)).unwrap();
        let p = b.add("pad", Op::Pad(Pad { padding: vec![1], mode: PadMode::Zeros }), &[half]).unwrap();
        b.conv("conv_padded", p, 3, 8, 3, 1, 0, true).unwrap();
        let n = b.add("norm", Op::InstanceNorm(InstanceNorm { affine: true }), &[v]).unwrap();
        b.unary("leaky", UnaryFn::LeakyRelu { slope: 0.01 }, n).unwrap()
    });
    assert_all_pass(&r).unwrap();
}
