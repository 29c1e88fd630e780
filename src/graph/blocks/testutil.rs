//! Helpers for the block tests: build a block from its YAML parameters on a fresh input, and count the
//! multiply-accumulates that published FLOP figures (torchvision's `GFLOPS`, timm's `GMACs`) report.

use super::parse_block;
use crate::graph::builder::GraphBuilder;
use crate::graph::tensor::DType;
use crate::graph::workload::Workload;

/// The workload of one block, named `name` with YAML parameters `params`, on an input of `shape`; and the
/// block's output shape.
pub fn build(name: &str, params: &str, shape: &[usize], dtype: DType) -> (Workload, Vec<usize>) {
    let value: serde_yaml::Value = serde_yaml::from_str(params).expect("test YAML parses");
    let block = parse_block(name, &value).expect("block is registered").unwrap_or_else(|(p, m)| panic!("{name}: {p}: {m}"));
    let mut b = GraphBuilder::new(shape[0]);
    let x = b.input("x", shape, dtype).expect("input");
    let y = b.scope(name, |b| block.build(b, &[x])).unwrap_or_else(|e| panic!("{e}"));
    let out = b.shape(y).to_vec();
    (b.finish(name, "", vec![y]), out)
}

/// An image-like f32 input.
pub fn build_f32(name: &str, params: &str, shape: &[usize]) -> (Workload, Vec<usize>) {
    build(name, params, shape, DType::F32)
}

/// Multiply-accumulates of every GEMM-shaped op (convolutions, Linear, MatMul). This is what torchvision and
/// timm publish as "FLOPs" / "GMACs": element-wise work, pooling and normalization are not in it.
pub fn macs(w: &Workload) -> u64 {
    w.nodes().filter_map(|(_, n)| n.cost.gemm).map(|g| g.batch * g.m * g.n * g.k).sum()
}

/// `x` rounded to `digits` decimals, to compare with a published figure of that precision.
pub fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}


/// Builds a block and checks the two first facts of any backbone: its output shape and its registered
/// parameters. Returns the workload for further checks.
pub fn expect(name: &str, params: &str, input: &[usize], dtype: DType, out: &[usize], param_count: u64) -> Workload {
    let (w, got) = build(name, params, input, dtype);
    assert_eq!(got, out, "{name} {params}: output shape");
    assert_eq!(w.params(), param_count, "{name} {params}: parameters");
    w
}

/// [`expect`] on an f32 input.
pub fn expect_f32(name: &str, params: &str, input: &[usize], out: &[usize], param_count: u64) -> Workload {
    expect(name, params, input, DType::F32, out, param_count)
}

/// The message of the error a block reports when built on this input.
pub fn build_error(name: &str, params: &str, input: &[usize], dtype: DType) -> String {
    let value: serde_yaml::Value = serde_yaml::from_str(params).expect("test YAML parses");
    let block = parse_block(name, &value).expect("block is registered").expect("parameters parse");
    let mut b = GraphBuilder::new(input[0]);
    let x = b.input("x", input, dtype).expect("input");
    block.build(&mut b, &[x]).expect_err("the build fails").message
}
