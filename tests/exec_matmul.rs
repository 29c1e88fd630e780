//! `linear` and `matmul` on the GPU equal the CPU reference for random shapes: odd sizes (scalar kernel),
//! multiples of 4 (vec4 kernels, with and without subgroups, and the workgroup-memory kernel of real GPUs),
//! broadcast batches, `Bᵀ`, and grids past one dispatch's limits.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph, check_graph_on, gpu, gpu_with_small_bindings, gpu_with_small_bindings_tiled, gpu_with_tiled_gemm, gpu_without_subgroups};
use mmbench::graph::DType;
use proptest::prelude::*;

/// Sizes that take the scalar kernel and sizes that take the vec4 ones.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..70, (1usize..18).prop_map(|x| 4 * x)]
}

/// A batch shape and, for each operand, a version of it with some axes broadcast (size 1) or dropped.
fn batches() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec((1usize..4, any::<bool>(), any::<bool>()), 0..3).prop_flat_map(|axes| {
        let a: Vec<usize> = axes.iter().map(|&(d, one_a, _)| if one_a { 1 } else { d }).collect();
        let b: Vec<usize> = axes.iter().map(|&(d, _, one_b)| if one_b { 1 } else { d }).collect();
        (Just(a), 0..=b.len()).prop_map(move |(a, drop)| (a, b[drop..].to_vec()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn linear_matches_reference(lead in prop::collection::vec(1usize..4, 0..2), m in 1usize..70, k in dim(), n in dim(), bias: bool) {
        let mut shape = lead;
        shape.extend([m, k]);
        for g in [gpu(), gpu_without_subgroups(), gpu_with_tiled_gemm()] {
            let r = check_graph_on(g, |b| {
                let x = b.input("x", &shape, DType::F32).unwrap();
                b.linear("fc", x, n, bias).unwrap()
            });
            assert_all_pass(&r)?;
        }
    }

    #[test]
    fn matmul_matches_reference((ba, bb) in batches(), m in dim(), k in dim(), n in dim(), transpose_b: bool, scaled: bool) {
        let mut sa = ba;
        sa.extend([m, k]);
        let mut sb = bb;
        sb.extend(if transpose_b { [n, k] } else { [k, n] });
        let scale = if scaled { 0.125 } else { 1.0 };
        for g in [gpu(), gpu_without_subgroups(), gpu_with_tiled_gemm()] {
            let r = check_graph_on(g, |b| {
                let x = b.input("a", &sa, DType::F32).unwrap();
                let y = b.input("b", &sb, DType::F32).unwrap();
                b.matmul("mm", x, y, transpose_b, scale).unwrap()
            });
            assert_all_pass(&r)?;
        }
    }
}

/// 70,000 batch elements need more than the 65,535 workgroups a grid dimension holds: two dispatches.
#[test]
fn matmul_batch_beyond_one_dispatch_is_split() {
    let r = check_graph(|b| {
        let x = b.input("a", &[70_000, 1, 3], DType::F32).unwrap();
        let y = b.input("b", &[70_000, 3, 2], DType::F32).unwrap();
        b.matmul("mm", x, y, false, 1.0).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// A linear on a slice view reads its input at an element offset inside the producer's buffer.
#[test]
fn linear_reads_a_view_at_its_offset() {
    let r = check_graph(|b| {
        let x = b.input("x", &[1, 6, 8], DType::F32).unwrap();
        let s = b.slice("last", x, 1, 3, None).unwrap();
        b.linear("fc", s, 5, true).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// A weight larger than one storage binding (VGG16's 411 MB classifier on lavapipe's 128 MiB) is bound in
/// windows of rows whose partial products add up: here a 64 KiB limit cuts a [700, 96] weight into 3 slices,
/// with and without bias, for one row (a GEMV) and for several.
#[test]
fn a_weight_beyond_one_binding_is_split_along_k() {
    for g in [gpu_with_small_bindings(), gpu_with_small_bindings_tiled()] {
        for (rows, bias) in [(1, true), (5, false), (20, true)] {
            let r = check_graph_on(g, |b| {
                let x = b.input("x", &[rows, 700], DType::F32).unwrap();
                b.linear("fc", x, 96, bias).unwrap()
            });
            assert_all_pass(&r).unwrap();
        }
    }
}

/// The tiled GEMM over several 128×128 tiles in both directions, with partial edge tiles, a k that is not a
/// multiple of its 8-deep steps, a transposed B and a broadcast batch.
#[test]
fn tiled_gemm_covers_several_tiles_and_ragged_edges() {
    let g = gpu_with_tiled_gemm();
    for (m, k, n, transpose_b) in [(300, 36, 260, false), (129, 20, 132, true), (1, 4, 4, false), (200, 1028, 8, true)] {
        let r = check_graph_on(g, |b| {
            let x = b.input("a", &[2, m, k], DType::F32).unwrap();
            let y = b.input("b", &[1, if transpose_b { n } else { k }, if transpose_b { k } else { n }], DType::F32).unwrap();
            b.matmul("mm", x, y, transpose_b, 0.5).unwrap()
        });
        assert_all_pass(&r).unwrap();
        let r = check_graph_on(g, |b| {
            let x = b.input("x", &[m, k], DType::F32).unwrap();
            b.linear("fc", x, n, true).unwrap()
        });
        assert_all_pass(&r).unwrap();
    }
}
