//! Convolutions and padding on the GPU equal the CPU reference for random shapes: 1-D to 3-D, grouped and
//! depthwise, strided, padded, dilated, transposed with output padding, with and without bias; every pad
//! mode; a view input read at an offset; and a grid past one dispatch dimension's limit.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph, check_graph_on, gpu, gpu_with_tiled_gemm, gpu_without_subgroups};
use mmbench::exec::execute::Executor;
use mmbench::graph::ops::{Conv, Pad, PadMode};
use mmbench::graph::{DType, GraphBuilder, Op};
use proptest::prelude::*;

/// One axis of a convolution: kernel, stride, padding, dilation, output padding and input size.
#[derive(Debug, Clone)]
struct Axis {
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    op: usize,
    size: usize,
}

/// An axis that fits: a forward convolution's window fits the padded input; a transposed one's output
/// padding is below its stride or dilation (PyTorch's rule) and its padding crops less than its output.
fn axis(max_extra: usize, transposed: bool) -> impl Strategy<Value = Axis> {
    (1usize..4, 1usize..4, 0usize..3, 1usize..3, 0usize..3, 0..=max_extra).prop_map(move |(k, s, p, d, op, extra)| {
        let span = d * (k - 1) + 1;
        if transposed {
            let op = op % s.max(d);
            let p = p.min((span - 1 + op) / 2);
            Axis { k, s, p, d, op, size: 1 + extra }
        } else {
            Axis { k, s, p, d, op: 0, size: span.saturating_sub(2 * p).max(1) + extra }
        }
    })
}

/// (groups, input channels per group, output channels per group): plain, grouped and depthwise, with
/// output channel counts that take every column tiling and both weight paths (vec4 and scalar).
fn channels() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (Just(1usize), 1usize..6, prop_oneof![1usize..10, Just(16), Just(24), Just(32), Just(40), Just(64)]),
        (2usize..4, 1usize..4, 1usize..9),
        (1usize..9, Just(1usize), 1usize..3),
    ]
}

/// A convolution of `dims` spatial axes and its input shape.
fn case(transposed: bool) -> impl Strategy<Value = (Conv, Vec<usize>)> {
    (1usize..=3).prop_flat_map(move |dims| {
        let max_extra = [20, 8, 4][dims - 1];
        (prop::collection::vec(axis(max_extra, transposed), dims), channels(), 1usize..3, any::<bool>()).prop_map(
            move |(axes, (groups, cig, cog), batch, bias)| {
                let get = |f: fn(&Axis) -> usize| axes.iter().map(f).collect::<Vec<_>>();
                let conv = Conv {
                    dims,
                    transposed,
                    out: groups * cog,
                    kernel: get(|a| a.k),
                    stride: get(|a| a.s),
                    padding: get(|a| a.p),
                    dilation: get(|a| a.d),
                    output_padding: get(|a| a.op),
                    groups,
                    bias,
                };
                let mut shape = vec![batch, groups * cig];
                shape.extend(get(|a| a.size));
                (conv, shape)
            },
        )
    })
}

/// The convolution of an input of `shape` on every kernel: with subgroups (where the adapter has them),
/// without, and the workgroup-memory kernel of real GPUs.
fn check_conv(conv: &Conv, shape: &[usize]) -> Result<(), TestCaseError> {
    for g in [gpu(), gpu_without_subgroups(), gpu_with_tiled_gemm()] {
        let r = check_graph_on(g, |b| {
            let x = b.input("x", shape, DType::F32).unwrap();
            b.add("conv", Op::Conv(conv.clone()), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }
    Ok(())
}

fn pad_mode() -> impl Strategy<Value = PadMode> {
    prop_oneof![Just(PadMode::Zeros), Just(PadMode::Reflect), Just(PadMode::Replicate)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn conv_matches_reference((conv, shape) in case(false)) {
        check_conv(&conv, &shape)?;
    }

    #[test]
    fn conv_transpose_matches_reference((conv, shape) in case(true)) {
        check_conv(&conv, &shape)?;
    }

    #[test]
    fn pad_matches_reference(spatial in prop::collection::vec(1usize..7, 1..4), c in 1usize..4, p in 0usize..4, mode in pad_mode()) {
        // Reflection needs padding below the size of every axis.
        let p = if mode == PadMode::Reflect { p.min(spatial.iter().min().unwrap() - 1) } else { p };
        let mut shape = vec![2, c];
        shape.extend(&spatial);
        let r = check_graph(|b| {
            let x = b.input("x", &shape, DType::F32).unwrap();
            b.add("pad", Op::Pad(Pad { padding: vec![p], mode }), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// A ResNet-style 3×3 convolution (64 → 64 channels, vec4 weights, full column tiles) with bias.
#[test]
fn resnet_style_conv2d() {
    let conv = Conv::new(2, 64, 3, 1, 1, true);
    check_conv(&conv, &[2, 64, 14, 14]).unwrap();
}

/// A convolution reads a view (a slice of its producer's buffer) at its element offset, after reflect
/// padding as mmFormer does it.
#[test]
fn conv_reads_a_padded_view_at_its_offset() {
    let r = check_graph(|b| {
        let x = b.input("x", &[1, 5, 6, 6], DType::F32).unwrap();
        let s = b.slice("tail", x, 1, 2, None).unwrap();
        let p = b.add("pad", Op::Pad(Pad { padding: vec![1], mode: PadMode::Reflect }), &[s]).unwrap();
        let s2 = b.slice("last", p, 1, 1, None).unwrap();
        b.add("conv", Op::Conv(Conv::new(2, 4, 3, 1, 0, true)), &[s2]).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// 70,000 depthwise groups are 70,000 workgroups, more than one grid dimension holds: the grid spreads
/// them over y and the kernel rebuilds the flat index.
#[test]
fn conv_beyond_one_grid_dimension() {
    let conv = Conv { groups: 70_000, ..Conv::new(1, 70_000, 1, 1, 0, true) };
    check_conv(&conv, &[1, 70_000, 2]).unwrap();
}

/// Process CPU seconds (user + system, every thread: a CPU adapter's workers too) of `f`; Linux only.
fn cpu_seconds(f: impl FnOnce()) -> Option<f64> {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // utime and stime are the 12th and 13th fields after the command name, in clock ticks (100 Hz).
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    };
    let t0 = read()?;
    f();
    Some(read()? - t0)
}

/// Throughput of a mid-size ResNet convolution (batch 8, 64 → 64 channels, 56×56, 3×3, padding 1): GPU
/// time by timestamps (best of 5), and FLOPs per process CPU second, which other load on a shared machine
/// skews less: `cargo test --release --test exec_conv -- --ignored --nocapture`.
#[test]
#[ignore]
fn conv2d_throughput() {
    let mut b = GraphBuilder::new(1);
    let x = b.input("x", &[8, 64, 56, 56], DType::F32).unwrap();
    let y = b.add("conv", Op::Conv(Conv::new(2, 64, 3, 1, 1, false)), &[x]).unwrap();
    let w = b.finish("conv", "", vec![y]);
    let flops = w.node(y).cost.flops as f64;
    let exec = Executor::new(gpu(), &w).unwrap();
    exec.iterate().unwrap();
    let mut runs = Vec::new();
    let cpu_s = cpu_seconds(|| runs.extend((0..5).map(|_| exec.iterate().unwrap()))).map(|s| s / 5.0);
    let gpu_s = runs.iter().map(|r| r.ops[0].1 - r.ops[0].0).fold(f64::INFINITY, f64::min);
    println!("conv2d 8×64×56×56, 3×3 → 64: {:.1} ms, {:.2} GFLOP/s ({})", gpu_s * 1e3, flops / gpu_s / 1e9, exec.timing().name());
    if let Some(c) = cpu_s {
        println!("  {:.2} s CPU per run: {:.2} GFLOP per CPU second", c, flops / c / 1e9);
    }
}
