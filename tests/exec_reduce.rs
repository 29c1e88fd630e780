//! Reductions over any axes and softmax along any axis on the GPU equal the CPU reference, for short
//! (an invocation each) and long (a workgroup each) folds.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph};
use mmbench::graph::ops::ReduceKind;
use mmbench::graph::DType;
use proptest::prelude::*;

/// Up to four short axes, one of which may be long (60 to 140: a workgroup per output folds it).
fn shape() -> impl Strategy<Value = Vec<usize>> {
    (prop::collection::vec(1usize..6, 1..5), any::<usize>(), prop::option::of(60usize..140)).prop_map(|(mut s, at, long)| {
        if let Some(l) = long {
            let i = at % s.len();
            s[i] = l;
        }
        s
    })
}

fn kind() -> impl Strategy<Value = ReduceKind> {
    prop_oneof![Just(ReduceKind::Mean), Just(ReduceKind::Sum), Just(ReduceKind::Max)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn reduce_matches_reference(k in kind(), s in shape(), mask in 1u8..16, keepdim: bool) {
        let axes: Vec<i64> = (0..s.len()).filter(|i| mask & (1 << i) != 0).map(|i| i as i64).collect();
        prop_assume!(!axes.is_empty());
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            b.reduce("r", k, x, &axes, keepdim).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn softmax_matches_reference(s in shape(), axis in 0usize..4) {
        let axis = (axis % s.len()) as i64;
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            b.softmax("sm", x, axis).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// 70,000 outputs of a long fold take a workgroup each: more than one grid dimension holds.
#[test]
fn reduce_beyond_one_grid_dimension_is_spread() {
    let r = check_graph(|b| {
        let x = b.input("x", &[70_000, 64], DType::F32).unwrap();
        b.reduce("r", ReduceKind::Sum, x, &[1], false).unwrap()
    });
    assert_all_pass(&r).unwrap();
}
