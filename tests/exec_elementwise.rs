//! Unary functions, broadcasting binary ops and the tensor-fusion outer product on the GPU equal the CPU
//! reference, and write every output element.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph};
use mmbench::graph::ops::{BinaryKind, OuterProduct, UnaryFn};
use mmbench::graph::{DType, Op};
use proptest::prelude::*;

fn any_unary() -> impl Strategy<Value = UnaryFn> {
    prop_oneof![
        Just(UnaryFn::Relu),
        (0.0f32..0.5).prop_map(|slope| UnaryFn::LeakyRelu { slope }),
        Just(UnaryFn::Gelu),
        Just(UnaryFn::GeluTanh),
        Just(UnaryFn::Sigmoid),
        Just(UnaryFn::Tanh),
        Just(UnaryFn::Silu),
        Just(UnaryFn::Exp),
        (-2.0f32..2.0, -1.0f32..1.0).prop_map(|(factor, offset)| UnaryFn::Scale { factor, offset }),
        (-1.0f32..0.0, 0.0f32..1.0).prop_map(|(min, max)| UnaryFn::Clamp { min, max }),
        Just(UnaryFn::Clamp { min: f32::NEG_INFINITY, max: 0.5 }),
        (-1.0f32..0.0, 0.0f32..1.0).prop_map(|(low, high)| UnaryFn::KeepRange { low, high }),
        Just(UnaryFn::Abs),
        prop_oneof![Just(2.0f32), Just(3.0), Just(-1.0)].prop_map(|exponent| UnaryFn::Pow { exponent }),
    ]
}

fn any_binary() -> impl Strategy<Value = BinaryKind> {
    prop_oneof![
        Just(BinaryKind::Add),
        Just(BinaryKind::Sub),
        Just(BinaryKind::Mul),
        Just(BinaryKind::Div),
        Just(BinaryKind::Maximum),
        Just(BinaryKind::Minimum),
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..9, 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn unary_matches_reference(f in any_unary(), s in shape()) {
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            b.unary("f", f, x).unwrap()
        });
        assert_all_pass(&r)?;
    }

    /// `log` and a fractional power need positive inputs: shift [-1, 1) to [1, 3) first.
    #[test]
    fn log_and_fractional_pow_match_reference(s in shape(), half: bool) {
        let f = if half { UnaryFn::Pow { exponent: 0.5 } } else { UnaryFn::Log };
        let r = check_graph(|b| {
            let x = b.input("x", &s, DType::F32).unwrap();
            let y = b.unary("shift", UnaryFn::Scale { factor: 1.0, offset: 2.0 }, x).unwrap();
            b.unary("f", f, y).unwrap()
        });
        assert_all_pass(&r)?;
    }

    /// Each operand drops leading axes or keeps some axes at 1, in every combination NumPy allows.
    #[test]
    fn binary_broadcasts_like_numpy(kind in any_binary(), s in shape(), mask_a in any::<u8>(), mask_b in any::<u8>(), drop_b in 0usize..3) {
        let unit = |mask: u8| -> Vec<usize> { s.iter().enumerate().map(|(i, &d)| if mask & (1 << i) != 0 { 1 } else { d }).collect() };
        let sa = unit(mask_a);
        let sb = unit(mask_b)[drop_b.min(s.len() - 1)..].to_vec();
        let r = check_graph(|b| {
            let x = b.input("a", &sa, DType::F32).unwrap();
            let y = b.input("b", &sb, DType::F32).unwrap();
            b.binary("op", kind, x, y).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn outer_product_matches_reference(lead in prop::collection::vec(1usize..4, 1..3), m in 1usize..10, n in 1usize..10, one_a: bool, one_b: bool) {
        let (mut sa, mut sb) = (lead.clone(), lead);
        sa.push(m);
        sb.push(n);
        let r = check_graph(|b| {
            let x = b.input("a", &sa, DType::F32).unwrap();
            let y = b.input("b", &sb, DType::F32).unwrap();
            b.add("outer", Op::OuterProduct(OuterProduct { prepend_one_a: one_a, prepend_one_b: one_b }), &[x, y]).unwrap()
        });
        assert_all_pass(&r)?;
    }
}
