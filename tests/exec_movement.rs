//! Concat, permute and slice on the GPU equal the CPU reference, whether they copy or are views read at an
//! offset by the next op.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph};
use mmbench::graph::ops::UnaryFn;
use mmbench::graph::DType;
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..6, 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn concat_matches_reference(s in shape(), axis in 0usize..4, extra in prop::collection::vec(1usize..5, 1..4)) {
        let axis = axis % s.len();
        let r = check_graph(|b| {
            let mut parts = vec![b.input("x0", &s, DType::F32).unwrap()];
            for (i, &e) in extra.iter().enumerate() {
                let mut si = s.clone();
                si[axis] = e;
                parts.push(b.input(&format!("x{}", i + 1), &si, DType::F32).unwrap());
            }
            b.concat("cat", &parts, axis as i64).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn permute_matches_reference(s in shape(), seed in any::<u64>()) {
        // A permutation from the seed (Fisher-Yates).
        let mut perm: Vec<usize> = (0..s.len()).collect();
        let mut x = seed;
        for i in (1..perm.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (x >> 33) as usize % (i + 1));
        }
        // Followed by a unary op, so that a permute that is a view is checked through its consumer.
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            let p = b.permute("p", x, &perm).unwrap();
            b.unary("scale", UnaryFn::Scale { factor: 2.0, offset: 0.0 }, p).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn slice_matches_reference(s in shape(), axis in 0usize..4, a in 0usize..6, len in 1usize..6) {
        let axis = axis % s.len();
        let start = a % s[axis];
        let end = (start + len).min(s[axis]);
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            let y = b.slice("s", x, axis as i64, start as i64, Some(end as i64)).unwrap();
            b.unary("relu", UnaryFn::Relu, y).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// Integer ids move through the same copy kernel as floats (u32 words on the GPU).
#[test]
fn ids_concatenate_and_slice_exactly() {
    let r = check_graph(|b| {
        let x = b.input("a", &[2, 5], DType::I64).unwrap();
        let y = b.input("b", &[2, 3], DType::I64).unwrap();
        let c = b.concat("cat", &[x, y], 1).unwrap();
        b.slice("tail", c, 1, 2, Some(7)).unwrap()
    });
    assert_all_pass(&r).unwrap();
}
