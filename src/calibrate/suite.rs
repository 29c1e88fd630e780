//! The microbenchmarks `mmbench calibrate` runs: one small graph per measurement, each holding one op of one
//! kind at one size, so that a fit per op kind sees that kind alone. Sizes span what the workloads use at full
//! and reduced scale (from a handful of elements to tens of MFLOP), and shapes vary the FLOP-to-byte ratio
//! (a GEMV next to a square GEMM) so that the fit can tell the compute term from the memory term.
//!
//! None of these graphs is a workload or a piece of one: calibration must not see what it is validated on.

use crate::error::Result;
use crate::graph::ops::{
    AdaptiveAvgPool, BinaryKind, Conv, Embedding, GruCell, LayerNorm, LstmCell, OuterProduct, Pad, PadMode, Pool, PoolKind, ReduceKind, Upsample, UpsampleMode,
    UnaryFn,
};
use crate::graph::{DType, GraphBuilder, Op, Stage, Workload};
use petgraph::graph::NodeIndex;

/// One microbenchmark: a graph whose last node is the op being measured.
#[derive(Debug)]
pub struct Microbench {
    /// `linear 64x1024x1024` and the like, for the progress bar and the report.
    pub label: String,
    pub workload: Workload,
    /// Steps of a whole recurrent layer timed as one framework call (the PyTorch suite times cuDNN's layer,
    /// not one cell): the measured time is shared equally among them, each a sample of the last step's op.
    /// 1 for a single op.
    pub steps: usize,
}

impl Microbench {
    /// The measured op: the last node, or a layer's last step.
    pub fn op(&self) -> NodeIndex {
        let last = NodeIndex::new(self.workload.len() - 1);
        if self.steps > 1 {
            let cell = self.workload.nodes().filter(|(_, n)| matches!(n.op, Op::GruCell(_) | Op::LstmCell(_))).map(|(i, _)| i).last();
            return cell.unwrap_or(last);
        }
        last
    }

    /// The measured op's kind (`linear`, `conv2d`, ...): the key of a `kernel_efficiency` curve.
    pub fn kind(&self) -> String {
        self.workload.node(self.op()).op.kind()
    }

    /// Whether the op is timed with warm caches rather than after a flush. Every op of a workload starts
    /// cold (the ops before it evicted its data) except a recurrent step: the GEMM runs only from the second
    /// step on, right after the previous step of its layer read the same hidden weights (mujoco-push's 1 MB
    /// LSTM steps ran 1.7 times faster in the workload than timed cold).
    pub fn warm_caches(&self) -> bool {
        matches!(self.workload.node(self.op()).op, Op::GruCell(_) | Op::LstmCell(_))
    }
}

/// How many sizes per op kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// A few sizes per kind: a minute on a CPU adapter, for tests and a first look.
    Quick,
    /// The full range.
    Full,
}

/// Builds a one-op graph: `inputs` are the shapes of its f32 inputs, `make` adds the op.
pub(crate) fn bench(label: String, inputs: &[&[usize]], make: impl FnOnce(&mut GraphBuilder, &[NodeIndex]) -> Result<NodeIndex, crate::graph::BuildError>) -> Result<Microbench> {
    let mut b = GraphBuilder::new(1);
    b.set_stage(Stage::Encoder, Some("bench"));
    let xs = inputs.iter().enumerate().map(|(i, s)| b.input(&format!("x{i}"), s, DType::F32)).collect::<Result<Vec<_>, _>>();
    let built = xs.and_then(|xs| make(&mut b, &xs));
    let out = built.map_err(|e| crate::error::Error::input(Default::default(), format!("microbenchmark `{label}`: {e}")))?;
    let workload = b.finish(&label, "calibration microbenchmark", vec![out]);
    Ok(Microbench { label, workload, steps: 1 })
}

fn conv(dims: usize, out: usize, k: usize, stride: usize, groups: usize, transposed: bool) -> Op {
    Op::Conv(Conv {
        dims,
        transposed,
        out,
        kernel: vec![k; dims],
        stride: vec![stride; dims],
        padding: vec![if transposed { 0 } else { k / 2 }; dims],
        dilation: vec![1; dims],
        output_padding: vec![0; dims],
        groups,
        bias: true,
    })
}

/// 2-D convolutions of `(batch, channels, side, out, kernel, stride, groups)`, biased, padded to keep the side.
fn conv2d_benches(sizes: impl IntoIterator<Item = (usize, usize, usize, usize, usize, usize, usize)>) -> Result<Vec<Microbench>> {
    sizes
        .into_iter()
        .map(|(n, c, s, o, k, st, g)| bench(format!("conv2d {n}x{c}x{s}x{s} -> {o} k{k} s{st} g{g}"), &[&[n, c, s, s]], |b, x| b.add("op", conv(2, o, k, st, g, false), &[x[0]])))
        .collect()
}

/// Picks every size in `full`, or a spread-out few of them in quick mode (first, middle, last).
fn pick<T: Clone>(depth: Depth, full: &[T]) -> Vec<T> {
    match depth {
        Depth::Full => full.to_vec(),
        Depth::Quick if full.len() <= 3 => full.to_vec(),
        Depth::Quick => vec![full[0].clone(), full[full.len() / 2].clone(), full[full.len() - 1].clone()],
    }
}

/// (FLOPs, bytes) of each timing of the host-work stand-in: FLOPs and working sets like the workloads' (tens
/// of MB for sarcasm's audio features).
pub fn host_work_grid() -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    for flops in [100_000u64, 1_000_000, 10_000_000, 100_000_000] {
        for bytes in [0u64, 256 << 10, 4 << 20, 32 << 20, 64 << 20] {
            v.push((flops, bytes));
        }
    }
    v
}

/// Every microbenchmark, op kind by op kind.
pub fn suite(depth: Depth) -> Result<Vec<Microbench>> {
    let mut v = Vec::new();
    // The dispatch floor: the smallest possible kernel, and a chain of them (the gap between passes).
    v.push(bench("relu 1".into(), &[&[1]], |b, x| b.relu("op", x[0]))?);

    // GEMMs: rows from a GEMV (a batch of one) to a few hundred, and inner sizes from 64 to 2048.
    let linear_sizes: &[(usize, usize, usize)] = &[
        (1, 256, 256),
        (1, 2048, 512),
        (4, 512, 512),
        (8, 64, 64),
        (8, 1024, 1024),
        (16, 256, 128),
        (32, 512, 1024),
        (64, 128, 128),
        (64, 1024, 256),
        (128, 512, 512),
        (256, 256, 256),
        (256, 1024, 1024),
        (512, 64, 512),
        (1024, 512, 64),
        // GEMVs whose weights outgrow the caches (a VGG or BERT classifier at batch one): they stream at
        // what the memory gives a single pass, below what cached weights reach.
        (1, 2048, 2048),
        (2, 1024, 4096),
        (1, 4096, 4096),
    ];
    // GEMMs whose k or n is not a multiple of 4 take the scalar kernel, with its own tile and speed.
    let scalar_linear_sizes: &[(usize, usize, usize)] = &[(1, 257, 1), (1, 999, 999), (1, 1025, 512), (4, 500, 10), (16, 35, 64), (64, 100, 30), (128, 300, 74), (256, 513, 256)];
    for (m, k, n) in pick(depth, linear_sizes).into_iter().chain(pick(depth, scalar_linear_sizes)) {
        v.push(bench(format!("linear {m}x{k}x{n}"), &[&[m, k]], |b, x| b.linear("op", x[0], n, true))?);
    }
    let matmul_sizes: &[(usize, usize, usize, usize, bool)] =
        &[(8, 16, 64, 16, true), (12, 64, 64, 64, true), (12, 64, 64, 64, false), (4, 256, 64, 256, true), (16, 128, 128, 64, false), (2, 512, 512, 512, false)];
    let scalar_matmul_sizes: &[(usize, usize, usize, usize, bool)] = &[(4, 1, 257, 256, false), (8, 16, 33, 16, true), (2, 64, 100, 30, false), (32, 1, 129, 192, false), (16, 4, 515, 96, false), (4, 2, 1025, 128, false)];
    for (batch, m, k, n, tb) in pick(depth, matmul_sizes).into_iter().chain(pick(depth, scalar_matmul_sizes)) {
        let bshape = if tb { [batch, n, k] } else { [batch, k, n] };
        v.push(bench(format!("matmul {batch}x{m}x{k}x{n}{}", if tb { " (B^T)" } else { "" }), &[&[batch, m, k], &bshape], |b, x| b.matmul("op", x[0], x[1], tb, 1.0))?);
    }

    // Convolutions: early layers (few channels, large images), late layers (many channels, small images),
    // strided and depthwise ones, 1-D over sequences and 3-D over volumes.
    let conv2d: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        // (batch, in, size, out, kernel, stride, groups)
        (4, 3, 64, 32, 3, 2, 1),
        (2, 16, 32, 32, 3, 1, 1),
        (1, 64, 16, 64, 3, 1, 1),
        (8, 32, 28, 64, 3, 1, 1),
        (2, 128, 8, 256, 3, 2, 1),
        (1, 256, 7, 256, 1, 1, 1),
        (4, 64, 28, 64, 3, 1, 64),
        (2, 3, 112, 16, 7, 2, 1),
    ];
    // Output channels not a multiple of 4: the scalar-load kernel.
    let scalar_conv2d: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (1, 1, 28, 6, 5, 1, 1),
        (2, 16, 32, 2, 3, 1, 1),
        (1, 3, 64, 7, 3, 1, 1),
        (4, 1, 64, 6, 5, 1, 1),
        (8, 3, 32, 6, 3, 1, 1),
        (2, 32, 16, 30, 3, 1, 1),
        (4, 8, 32, 10, 3, 1, 1),
    ];
    v.extend(conv2d_benches(pick(depth, conv2d).into_iter().chain(pick(depth, scalar_conv2d)))?);
    for (n, c, l, o, k) in pick(depth, &[(1, 35, 50, 64, 3), (8, 64, 128, 64, 5), (4, 300, 50, 128, 1)]).into_iter().chain(pick(depth, &[(2, 20, 100, 5, 3), (1, 74, 50, 37, 1), (4, 32, 64, 2, 3)])) {
        v.push(bench(format!("conv1d {n}x{c}x{l} -> {o} k{k}"), &[&[n, c, l]], |b, x| b.add("op", conv(1, o, k, 1, 1, false), &[x[0]]))?);
    }
    // 3-D: from one input channel to many; 3x3x3 and 1x1x1 kernels, strides 1 and 2 (a 3-D U-Net's levels).
    let conv3d: &[(usize, usize, usize, usize, usize, usize)] = &[
        (1, 1, 16, 8, 3, 1),
        (1, 8, 16, 16, 3, 2),
        (1, 16, 8, 32, 3, 1),
        (2, 4, 12, 8, 3, 1),
        (1, 8, 24, 8, 3, 1),
        (1, 16, 16, 8, 3, 1),
        (1, 4, 32, 8, 3, 1),
        (1, 64, 6, 64, 3, 1),
        (1, 32, 10, 64, 3, 2),
        (1, 128, 4, 128, 3, 1),
        (1, 16, 16, 16, 1, 1),
        (1, 128, 2, 512, 1, 1),
    ];
    for (n, c, s, o, k, st) in pick(depth, conv3d) {
        v.push(bench(format!("conv3d {n}x{c}x{s}^3 -> {o} k{k} s{st}"), &[&[n, c, s, s, s]], |b, x| b.add("op", conv(3, o, k, st, 1, false), &[x[0]]))?);
    }
    for (n, c, s, o) in pick(depth, &[(1, 32, 4, 16), (1, 16, 8, 8), (2, 8, 8, 8)]) {
        v.push(bench(format!("conv_transpose3d {n}x{c}x{s}^3 -> {o}"), &[&[n, c, s, s, s]], |b, x| b.add("op", conv(3, o, 2, 2, 1, true), &[x[0]]))?);
    }
    for (n, c, s, o) in pick(depth, &[(1, 64, 8, 32), (2, 16, 16, 16), (1, 8, 32, 8)]) {
        v.push(bench(format!("conv_transpose2d {n}x{c}x{s}^2 -> {o}"), &[&[n, c, s, s]], |b, x| b.add("op", conv(2, o, 2, 2, 1, true), &[x[0]]))?);
    }

    // Element-wise and bandwidth-bound kernels: 1 Ki to 4 Mi elements.
    let elems: &[usize] = &[1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 22];
    for f in [UnaryFn::Relu, UnaryFn::Gelu, UnaryFn::Sigmoid, UnaryFn::Tanh] {
        for &n in &pick(depth, elems) {
            v.push(bench(format!("{} {n}", f.name()), &[&[n]], |b, x| b.unary("op", f, x[0]))?);
        }
    }
    for kind in [BinaryKind::Add, BinaryKind::Mul] {
        for &n in &pick(depth, elems) {
            v.push(bench(format!("{} {n}", kind.name()), &[&[n / 64, 64], &[n / 64, 64]], |b, x| b.binary("op", kind, x[0], x[1]))?);
        }
        // A broadcast operand (a bias or a gate).
        for &n in &pick(depth, &elems[1..]) {
            v.push(bench(format!("{} {n} broadcast", kind.name()), &[&[n / 256, 256], &[256]], |b, x| b.binary("op", kind, x[0], x[1]))?);
        }
    }
    // Rows of 64 and more fold in a workgroup each, shorter ones in an invocation each (two kernels).
    let rows: &[(usize, usize)] = &[(16, 64), (64, 1024), (512, 128), (4096, 64), (16, 16384), (2048, 512), (128, 32), (1024, 16), (8192, 8)];
    for &(r, c) in &pick(depth, rows) {
        v.push(bench(format!("softmax {r}x{c}"), &[&[r, c]], |b, x| b.softmax("op", x[0], -1))?);
        v.push(bench(format!("mean {r}x{c} over rows"), &[&[r, c]], |b, x| b.reduce("op", ReduceKind::Mean, x[0], &[-1], false))?);
        v.push(bench(format!("layer_norm {r}x{c}"), &[&[r, c]], |b, x| b.add("op", Op::LayerNorm(LayerNorm::default()), &[x[0]]))?);
    }
    for &(n, c, s) in &pick(depth, &[(1, 16, 32), (4, 64, 28), (8, 32, 56), (2, 256, 7)]) {
        v.push(bench(format!("batch_norm {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.batch_norm("op", x[0]))?);
        v.push(bench(format!("sum {n}x{c}x{s}x{s} over space"), &[&[n, c, s, s]], |b, x| b.reduce("op", ReduceKind::Sum, x[0], &[2, 3], false))?);
        v.push(bench(format!("max_pool2d {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.add("op", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 2)), &[x[0]]))?);
        v.push(bench(format!("avg_pool2d {n}x{c}x{s}x{s} k3"), &[&[n, c, s, s]], |b, x| b.add("op", Op::Pool(Pool::new(PoolKind::Avg, 2, 3, 1)), &[x[0]]))?);
        v.push(bench(format!("adaptive_avg_pool2d {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.add("op", Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![1, 1] }), &[x[0]]))?);
        let up = Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Nearest, align_corners: false };
        v.push(bench(format!("upsample {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.add("op", Op::Upsample(up), &[x[0]]))?);
        v.push(bench(format!("pad {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.add("op", Op::Pad(Pad { padding: vec![1; 2], mode: PadMode::Zeros }), &[x[0]]))?);
    }
    // Volumes: from few channels of large maps to many channels of tiny ones (one instance per channel).
    for &(n, c, s) in &pick(depth, &[(1, 8, 16), (1, 16, 32), (2, 4, 24), (1, 32, 8), (1, 128, 4), (1, 512, 2), (1, 64, 3), (2, 256, 2)]) {
        v.push(bench(format!("instance_norm {n}x{c}x{s}^3"), &[&[n, c, s, s, s]], |b, x| b.add("op", Op::InstanceNorm(Default::default()), &[x[0]]))?);
        v.push(bench(format!("pad {n}x{c}x{s}^3 reflect"), &[&[n, c, s, s, s]], |b, x| b.add("op", Op::Pad(Pad { padding: vec![1], mode: PadMode::Reflect }), &[x[0]]))?);
    }
    // Global average pooling as a mean over the spatial axes: few outputs folding many elements each.
    for &(n, c, s) in &pick(depth, &[(1, 6, 60), (4, 16, 14), (2, 64, 4), (8, 32, 28), (8, 128, 2), (4, 256, 3)]) {
        v.push(bench(format!("mean {n}x{c}x{s}x{s} over space"), &[&[n, c, s, s]], |b, x| b.reduce("op", ReduceKind::Mean, x[0], &[2, 3], false))?);
    }

    // Data movement.
    for &n in &pick(depth, elems) {
        v.push(bench(format!("concat {n}"), &[&[n / 128, 64], &[n / 128, 64]], |b, x| b.concat("op", &[x[0], x[1]], -1))?);
        v.push(bench(format!("permute {n}"), &[&[8, n / 512, 64]], |b, x| b.permute("op", x[0], &[0, 2, 1]))?);
        v.push(bench(format!("slice {n}"), &[&[n / 64, 128]], |b, x| b.slice("op", x[0], -1, 32, Some(96)))?);
    }
    for &(m, n) in &pick(depth, &[(32, 33), (128, 129), (512, 65)]) {
        let op = Op::OuterProduct(OuterProduct { prepend_one_a: true, prepend_one_b: true });
        v.push(bench(format!("outer_product 8x{m}x{n}"), &[&[8, m - 1], &[8, n - 1]], |b, x| b.add("op", op, &[x[0], x[1]]))?);
    }
    for &(tokens, vocab, dim) in &pick(depth, &[(32, 1000, 64), (512, 30522, 128), (2048, 5000, 300)]) {
        v.push(embedding_bench(tokens, vocab, dim)?);
    }

    // Recurrent cells: one step, batch x hidden.
    // Batches of one to a few with large hidden sizes: GEMVs that stream the hidden weights.
    for &(b_, h) in &pick(depth, &[(1, 32), (8, 64), (32, 128), (16, 512), (1, 256), (2, 512), (1, 1024)]) {
        v.push(bench(format!("gru_cell {b_}x{h}"), &[&[b_, 3 * h], &[b_, h]], |b, x| {
            b.add("op", Op::GruCell(GruCell { hidden: h, step: None, time_major: false }), &[x[0], x[1]])
        })?);
        v.push(bench(format!("lstm_cell {b_}x{h}"), &[&[b_, 4 * h], &[b_, 2, h]], |b, x| {
            b.add("op", Op::LstmCell(LstmCell { hidden: h, step: None, time_major: false }), &[x[0], x[1]])
        })?);
    }
    Ok(v)
}

/// The suite as an eager framework on a real GPU runs it: [`suite`]'s sizes, then the sizes where a GPU's
/// libraries saturate (square GEMMs to 4096, convolutions of full-size networks, tensors of hundreds of MB),
/// and recurrent layers timed whole (cuDNN runs a layer's steps from one call, with kernels of its own, so a
/// step timed alone says little), in place of single cells.
pub fn gpu_suite(depth: Depth) -> Result<Vec<Microbench>> {
    let mut v: Vec<Microbench> = suite(depth)?.into_iter().filter(|mb| !matches!(mb.workload.node(mb.op()).op, Op::GruCell(_) | Op::LstmCell(_))).collect();
    let large_linear: &[(usize, usize, usize)] =
        &[(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 1024, 4096), (4096, 4096, 1024), (512, 2048, 2048), (2048, 768, 3072), (256, 4096, 4096), (64, 4096, 4096), (32, 25088, 4096)];
    for (m, k, n) in pick(depth, large_linear) {
        v.push(bench(format!("linear {m}x{k}x{n}"), &[&[m, k]], |b, x| b.linear("op", x[0], n, true))?);
    }
    for (batch, m, k, n, tb) in pick(depth, &[(96, 128, 64, 128, true), (96, 128, 128, 64, false), (32, 512, 64, 512, true), (32, 512, 512, 64, false), (8, 1024, 1024, 1024, false)]) {
        let bshape = if tb { [batch, n, k] } else { [batch, k, n] };
        v.push(bench(format!("matmul {batch}x{m}x{k}x{n}{}", if tb { " (B^T)" } else { "" }), &[&[batch, m, k], &bshape], |b, x| b.matmul("op", x[0], x[1], tb, 1.0))?);
    }
    let conv2d: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (32, 64, 56, 64, 3, 1, 1),
        (32, 128, 28, 128, 3, 1, 1),
        (32, 256, 14, 256, 3, 1, 1),
        (16, 512, 7, 512, 3, 1, 1),
        (32, 3, 224, 64, 7, 2, 1),
        (32, 64, 56, 256, 1, 1, 1),
        (64, 1, 112, 6, 5, 1, 1),
        (64, 6, 56, 12, 5, 1, 1),
        (32, 32, 64, 32, 3, 1, 32),
    ];
    // Grouped convolutions (ResNeXt's and RegNet's, between a dense convolution and a depthwise one): cuDNN may
    // run each group in kernels of its own, so their kernel counts and times are measured, not assumed.
    let grouped: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (1, 64, 56, 64, 3, 1, 4),
        (1, 128, 28, 128, 3, 2, 8),
        (4, 256, 14, 256, 3, 1, 16),
        (8, 96, 32, 96, 3, 2, 4),
        (2, 512, 7, 512, 3, 1, 32),
        (16, 192, 14, 192, 3, 1, 8),
        (32, 128, 16, 128, 3, 2, 16),
        (1, 1024, 8, 1024, 3, 1, 64),
        (8, 384, 12, 384, 3, 2, 12),
        (32, 64, 32, 64, 3, 1, 2),
    ];
    v.extend(conv2d_benches(pick(depth, conv2d).into_iter().chain(pick(depth, grouped)))?);
    // Convolutions of an image that arrives channels-last (`[N, H, W, C]`) and is permuted to `[N, C, H, W]`:
    // PyTorch keeps the permuted strides (a channels-last tensor) and cuDNN runs such convolutions in other
    // kernels than contiguous ones. Only the convolution is timed; the permute runs before it.
    let nhwc: &[(usize, usize, usize, usize, usize, usize)] =
        &[(2, 3, 96, 32, 5, 2), (1, 16, 64, 32, 3, 2), (4, 32, 32, 64, 3, 1), (1, 64, 16, 128, 3, 2), (8, 64, 28, 64, 3, 1), (1, 128, 8, 128, 3, 1), (16, 32, 56, 64, 5, 2), (32, 128, 14, 128, 3, 1)];
    for (n, c, s, o, k, st) in pick(depth, nhwc) {
        v.push(bench(format!("conv2d {n}x{c}x{s}x{s} -> {o} k{k} s{st} g1 channels-last"), &[&[n, s, s, c]], |b, x| {
            let nchw = b.permute("nchw", x[0], &[0, 3, 1, 2])?;
            b.add("op", conv(2, o, k, st, 1, false), &[nchw])
        })?);
    }
    for (n, c, l, o, k) in pick(depth, &[(32, 256, 500, 256, 3), (32, 64, 1000, 64, 5), (64, 512, 100, 512, 1)]) {
        v.push(bench(format!("conv1d {n}x{c}x{l} -> {o} k{k}"), &[&[n, c, l]], |b, x| b.add("op", conv(1, o, k, 1, 1, false), &[x[0]]))?);
    }
    for (n, c, s, o, k, st) in pick(depth, &[(2, 32, 32, 32, 3, 1), (1, 64, 24, 64, 3, 1), (2, 2, 64, 16, 3, 1), (4, 128, 8, 128, 3, 1), (2, 64, 32, 128, 3, 2), (1, 256, 12, 256, 1, 1)]) {
        v.push(bench(format!("conv3d {n}x{c}x{s}^3 -> {o} k{k} s{st}"), &[&[n, c, s, s, s]], |b, x| b.add("op", conv(3, o, k, st, 1, false), &[x[0]]))?);
    }
    for (n, c, s, o) in pick(depth, &[(2, 64, 16, 32), (1, 128, 12, 64), (2, 32, 32, 16)]) {
        v.push(bench(format!("conv_transpose3d {n}x{c}x{s}^3 -> {o}"), &[&[n, c, s, s, s]], |b, x| b.add("op", conv(3, o, 2, 2, 1, true), &[x[0]]))?);
    }
    // An identity scale, as a model's `x.clone()`: PyTorch copies it with a memcpy, not a kernel.
    for &n in &pick(depth, &[1usize, 1 << 10, 1 << 16, 1 << 20, 1 << 24]) {
        v.push(bench(format!("scale copy {n}"), &[&[n]], |b, x| b.unary("op", UnaryFn::Scale { factor: 1.0, offset: 0.0 }, x[0]))?);
    }
    // Bandwidth: tensors far larger than the L2 cache.
    for &n in &pick(depth, &[1usize << 24, 1 << 26]) {
        v.push(bench(format!("relu {n}"), &[&[n]], |b, x| b.relu("op", x[0]))?);
        v.push(bench(format!("add {n}"), &[&[n / 64, 64], &[n / 64, 64]], |b, x| b.binary("op", BinaryKind::Add, x[0], x[1]))?);
        v.push(bench(format!("permute {n}"), &[&[8, n / 512, 64]], |b, x| b.permute("op", x[0], &[0, 2, 1]))?);
    }
    for &(n, c, s) in &pick(depth, &[(32, 64, 56), (16, 256, 28)]) {
        v.push(bench(format!("batch_norm {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.batch_norm("op", x[0]))?);
        v.push(bench(format!("max_pool2d {n}x{c}x{s}x{s}"), &[&[n, c, s, s]], |b, x| b.add("op", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 2)), &[x[0]]))?);
    }
    for &(r, c) in &pick(depth, &[(16384, 768), (65536, 128)]) {
        v.push(bench(format!("layer_norm {r}x{c}"), &[&[r, c]], |b, x| b.add("op", Op::LayerNorm(LayerNorm::default()), &[x[0]]))?);
        v.push(bench(format!("softmax {r}x{c}"), &[&[r, c]], |b, x| b.softmax("op", x[0], -1))?);
    }
    for &(n, c, s) in &pick(depth, &[(1, 32, 64), (2, 64, 32)]) {
        v.push(bench(format!("instance_norm {n}x{c}x{s}^3"), &[&[n, c, s, s, s]], |b, x| b.add("op", Op::InstanceNorm(Default::default()), &[x[0]]))?);
    }
    // Recurrent layers: (batch, steps, features, hidden).
    // cuDNN runs small layers in a few kernels for all steps and larger ones in kernels per step: the hidden
    // sizes between 128 and 256 and the batches up to 64 say where it switches, and what each path costs.
    let layers: &[(usize, usize, usize, usize)] = &[
        (1, 20, 35, 64),
        (8, 50, 74, 128),
        (32, 50, 300, 128),
        (1, 20, 128, 256),
        (16, 30, 512, 512),
        (2, 10, 1024, 1024),
        (32, 100, 64, 64),
        (2, 80, 40, 48),
        (4, 40, 50, 96),
        (16, 60, 100, 160),
        (1, 30, 64, 192),
        (8, 16, 96, 224),
        (64, 25, 256, 320),
        (48, 40, 128, 768),
        (64, 20, 512, 512),
    ];
    for &(bt, t, f, h) in &pick(depth, layers) {
        for gru in [true, false] {
            v.push(recurrent_layer_bench(gru, bt, t, f, h)?);
        }
    }
    Ok(v)
}

/// A GRU or LSTM layer over `[batch, steps, features]` with `hidden` units, returning its last state.
fn recurrent_layer_bench(gru: bool, batch: usize, steps: usize, features: usize, hidden: usize) -> Result<Microbench> {
    use crate::graph::blocks::{Block, Gru, Lstm, Recurrent, RecurrentOutput};
    let kind = if gru { "gru" } else { "lstm" };
    let p = Recurrent { hidden, layers: 1, time_major: false, output: RecurrentOutput::Last };
    let mut mb = bench(format!("{kind} layer {batch}x{steps}x{features} h{hidden}"), &[&[batch, steps, features]], |b, x| {
        if gru { Gru(p).build(b, &[x[0]]) } else { Lstm(p).build(b, &[x[0]]) }
    })?;
    mb.steps = steps;
    Ok(mb)
}

/// `n` ReLUs on one element in a row: each costs only its dispatch, so the chain shows the gap between two
/// passes and the latency of a submission.
/// A copy over `elements` values (a relu), run between the timed iterations of a microbenchmark so that each
/// starts with cold caches, as an op of a workload does: the ops before it evicted its weights and inputs.
pub fn cache_flush(elements: usize) -> Result<Workload> {
    Ok(bench("cache flush".into(), &[&[elements]], |b, x| b.relu("op", x[0]))?.workload)
}

pub fn dispatch_chain(n: usize) -> Result<Workload> {
    let mut b = GraphBuilder::new(1);
    b.set_stage(Stage::Encoder, Some("bench"));
    let built = (|| {
        let mut x = b.input("x", &[1], DType::F32)?;
        for i in 0..n {
            x = b.relu(&format!("relu{i}"), x)?;
        }
        Ok(x)
    })();
    let out = built.map_err(|e: crate::graph::BuildError| crate::error::Error::input(Default::default(), format!("dispatch chain: {e}")))?;
    Ok(b.finish("dispatch chain", "calibration microbenchmark", vec![out]))
}

/// An embedding lookup reads integer ids, not f32 values.
fn embedding_bench(tokens: usize, vocab: usize, dim: usize) -> Result<Microbench> {
    let label = format!("embedding {tokens} of {vocab}x{dim}");
    let mut b = GraphBuilder::new(1);
    b.set_stage(Stage::Encoder, Some("bench"));
    let built = b.input("ids", &[tokens], DType::I64).and_then(|ids| b.add("op", Op::Embedding(Embedding { vocab, dim }), &[ids]));
    let out = built.map_err(|e| crate::error::Error::input(Default::default(), format!("microbenchmark `{label}`: {e}")))?;
    Ok(Microbench { workload: b.finish(&label, "calibration microbenchmark", vec![out]), label, steps: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_microbenchmark_builds_one_op_and_covers_the_op_kinds() {
        let full = suite(Depth::Full).unwrap();
        let quick = suite(Depth::Quick).unwrap();
        assert!(quick.len() < full.len());
        let kinds: BTreeSet<String> = full.iter().map(Microbench::kind).collect();
        for k in ["linear", "matmul", "conv1d", "conv2d", "conv3d", "conv_transpose3d", "relu", "add", "softmax", "layer_norm", "batch_norm", "concat", "gru_cell", "lstm_cell", "embedding", "upsample"] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        // Quick mode keeps every kind.
        assert_eq!(kinds, quick.iter().map(Microbench::kind).collect());
        for m in &full {
            let n = m.workload.node(m.op());
            assert!(n.cost.kernels > 0, "{} launches no kernel", m.label);
            assert!(n.cost.bytes() > 0, "{} moves no data", m.label);
            // Inputs, then the op: nothing else that would need its own timing.
            assert!(m.workload.nodes().filter(|(_, x)| x.cost.kernels > 0).count() == 1, "{}", m.label);
        }
        // Labels are unique, so the report can name each measurement.
        assert_eq!(full.iter().map(|m| &m.label).collect::<BTreeSet<_>>().len(), full.len());
    }

    #[test]
    fn the_gpu_suite_measures_grouped_channels_last_convolutions_and_recurrent_layers() {
        let full = gpu_suite(Depth::Full).unwrap();
        assert_eq!(full.iter().map(|m| &m.label).collect::<BTreeSet<_>>().len(), full.len());
        // Grouped: neither dense nor depthwise.
        let grouped = full.iter().filter(|m| matches!(&m.workload.node(m.op()).op, Op::Conv(c) if c.groups > 1 && c.groups < c.out)).count();
        assert!(grouped >= 8, "{grouped}");
        // Channels-last: the measured convolution reads a permute of an NHWC input, and is the last node.
        let nhwc: Vec<&Microbench> = full.iter().filter(|m| m.label.ends_with("channels-last")).collect();
        assert!(nhwc.len() >= 6);
        for m in nhwc {
            let op = m.workload.node(m.op());
            assert_eq!(op.op.kind(), "conv2d", "{}", m.label);
            assert_eq!(m.workload.node(op.inputs[0]).op.kind(), "permute", "{}", m.label);
            assert_eq!(m.op().index(), m.workload.len() - 1);
        }
        // Recurrent layers on both sides of cuDNN's switch between fused and per-step kernels.
        let hidden: BTreeSet<usize> = full.iter().filter(|m| m.steps > 1).map(|m| match &m.workload.node(m.op()).op {
            Op::GruCell(c) => c.hidden,
            Op::LstmCell(c) => c.hidden,
            _ => 0,
        }).collect();
        assert!(hidden.iter().any(|&h| h > 128 && h < 256), "{hidden:?}");
        assert!(hidden.len() >= 10, "{hidden:?}");
    }
}
