//! BatchNorm, LayerNorm and InstanceNorm on the GPU equal the CPU reference for short rows (an invocation
//! each), long rows (a workgroup each), with and without affine parameters. Inputs are a spread of 2 around
//! 100, so a naive `E[x²] - E[x]²` variance in f32 loses the digits the tolerance asks for (it fails these
//! tests; an offset of 3 would not be enough to tell).
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph};
use mmbench::graph::ops::{InstanceNorm, LayerNorm, UnaryFn};
use mmbench::graph::{DType, GraphBuilder, Op};
use petgraph::graph::NodeIndex;
use proptest::prelude::*;

/// An input of `shape` in [99, 101): uniform [-1, 1) plus 100.
fn offset_input(b: &mut GraphBuilder, shape: &[usize]) -> NodeIndex {
    let x = b.input("x", shape, DType::F32).unwrap();
    b.unary("plus100", UnaryFn::Scale { factor: 1.0, offset: 100.0 }, x).unwrap()
}

/// `[B, C, *spatial]` with 0 to 3 spatial axes; the last axis is sometimes long (70 to 300).
fn channel_shape(min_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    (1usize..4, 1usize..7, prop::collection::vec(1usize..7, min_rank - 2..4), prop::option::of(70usize..300)).prop_map(|(b, c, mut spatial, long)| {
        if let (Some(l), Some(last)) = (long, spatial.last_mut()) {
            *last = l;
        }
        let mut s = vec![b, c];
        s.append(&mut spatial);
        s
    })
}

/// One to four axes, the last one sometimes long.
fn any_shape() -> impl Strategy<Value = Vec<usize>> {
    (prop::collection::vec(1usize..9, 1..5), prop::option::of(60usize..400)).prop_map(|(mut s, long)| {
        if let Some(l) = long {
            *s.last_mut().unwrap() = l;
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn batch_norm_matches_reference(s in channel_shape(2)) {
        let r = check_graph(|b| {
            let x = offset_input(b, &s);
            b.batch_norm("bn", x).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn layer_norm_matches_reference(s in any_shape(), dims in 1usize..4, affine: bool) {
        let dims = dims.min(s.len());
        let r = check_graph(|b| {
            let x = offset_input(b, &s);
            b.add("ln", Op::LayerNorm(LayerNorm { dims, affine }), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn instance_norm_matches_reference(s in channel_shape(3), affine: bool) {
        let r = check_graph(|b| {
            let x = offset_input(b, &s);
            b.add("in", Op::InstanceNorm(InstanceNorm { affine }), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// mmFormer's InstanceNorm3d over a 128³ volume per channel: 2M elements a row, 32K per invocation.
#[test]
fn instance_norm_over_a_large_volume() {
    let r = check_graph(|b| {
        let x = offset_input(b, &[1, 2, 128, 128, 128]);
        b.add("in", Op::InstanceNorm(InstanceNorm { affine: true }), &[x]).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// 70,000 rows of 64 take a workgroup each (more than one grid dimension holds); 70,000 · 64 rows of 8 an
/// invocation each.
#[test]
fn layer_norm_rows_beyond_one_grid_dimension() {
    for shape in [[70_000, 64], [70_000 * 64 / 8, 8]] {
        let r = check_graph(|b| {
            let x = offset_input(b, &shape);
            b.add("ln", Op::LayerNorm(LayerNorm { dims: 1, affine: true }), &[x]).unwrap()
        });
        assert_all_pass(&r).unwrap();
    }
}
