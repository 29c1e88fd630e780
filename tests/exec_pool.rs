//! Pooling (max and average, 1-3 spatial axes, stride, padding, `ceil_mode`), adaptive average pooling,
//! upsampling (nearest and linear, by scale or to a size, corners aligned or not) and embedding lookups on
//! the GPU equal the CPU reference and write every output element, also when the launch is spread over more
//! than one grid dimension.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{assert_all_pass, check_graph, check_graph_on};
use mmbench::exec::context::Gpu;
use mmbench::graph::ops::{AdaptiveAvgPool, BinaryKind, Embedding, Pool, PoolKind, Upsample, UpsampleMode};
use mmbench::graph::{DType, Op};
use proptest::prelude::*;
use std::sync::OnceLock;

/// The test adapter, told that a grid dimension holds only 7 workgroups: small launches are then spread over
/// x, y and z, as launches of more than 65535 workgroups are on a real limit.
fn gpu_with_small_grid() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.limits.max_compute_workgroups_per_dimension = 7;
        g
    })
}

/// `[B, C, *spatial]` with `spatial` given.
fn nchw(batch: usize, channels: usize, spatial: &[usize]) -> Vec<usize> {
    let mut s = vec![batch, channels];
    s.extend(spatial);
    s
}

/// One spatial axis of a pool: its size, kernel, stride and padding (at most half the kernel), with the
/// size at least the kernel so that every window fits.
fn pool_axis() -> impl Strategy<Value = (usize, usize, usize, usize)> {
    (1usize..5, 0usize..9, 1usize..4, any::<usize>()).prop_map(|(k, extra, s, p)| (k + extra, k, s, p % (k / 2 + 1)))
}

fn pool_kind() -> impl Strategy<Value = PoolKind> {
    prop_oneof![Just(PoolKind::Max), Just(PoolKind::Avg)]
}

fn upsample_mode() -> impl Strategy<Value = UpsampleMode> {
    prop_oneof![Just(UpsampleMode::Nearest), Just(UpsampleMode::Linear)]
}

/// A scale factor: integral ones, as the workloads use, fractional ones whose step `1/scale` differs from
/// `in/out`, one that leaves small axes unchanged (1.2) and one that shrinks.
fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![Just(2.0), Just(3.0), Just(4.0), Just(1.5), Just(2.5), Just(1.2), Just(0.5)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn pool_matches_reference(
        kind in pool_kind(),
        axes in prop::collection::vec(pool_axis(), 1..4),
        batch in 1usize..3,
        channels in 1usize..4,
        ceil_mode: bool,
    ) {
        let spatial: Vec<usize> = axes.iter().map(|a| a.0).collect();
        let pool = Pool {
            kind,
            dims: axes.len(),
            kernel: axes.iter().map(|a| a.1).collect(),
            stride: Some(axes.iter().map(|a| a.2).collect()),
            padding: axes.iter().map(|a| a.3).collect(),
            ceil_mode,
        };
        let r = check_graph(|b| {
            let x = b.input("x", &nchw(batch, channels, &spatial), DType::F32).unwrap();
            b.add("pool", Op::Pool(pool), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn adaptive_avg_pool_matches_reference(
        sizes in prop::collection::vec((1usize..12, 1usize..8), 1..4),
        batch in 1usize..3,
        channels in 1usize..4,
    ) {
        let spatial: Vec<usize> = sizes.iter().map(|s| s.0).collect();
        let output: Vec<usize> = sizes.iter().map(|s| s.1).collect();
        let r = check_graph(|b| {
            let x = b.input("x", &nchw(batch, channels, &spatial), DType::F32).unwrap();
            b.add("pool", Op::AdaptiveAvgPool(AdaptiveAvgPool { output }), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn upsample_matches_reference(
        spatial in prop::collection::vec(1usize..8, 1..4),
        mode in upsample_mode(),
        align_corners: bool,
        scale in scale(),
        sizes in prop::collection::vec(1usize..14, 3),
        by_size: bool,
        batch in 1usize..3,
        channels in 1usize..4,
    ) {
        let up = if by_size {
            Upsample { scale: None, size: Some(sizes[..spatial.len()].to_vec()), mode, align_corners }
        } else {
            // A scale that shrinks an axis to nothing does not build: not a kernel case.
            prop_assume!(spatial.iter().all(|&n| (n as f64 * scale).floor() >= 1.0));
            Upsample { scale: Some(scale), size: None, mode, align_corners }
        };
        let r = check_graph(|b| {
            let x = b.input("x", &nchw(batch, channels, &spatial), DType::F32).unwrap();
            b.add("up", Op::Upsample(up), &[x]).unwrap()
        });
        assert_all_pass(&r)?;
    }

    #[test]
    fn embedding_matches_reference(
        ids in prop::collection::vec(1usize..6, 1..4),
        vocab in 1usize..60,
        dim in 1usize..40,
    ) {
        let r = check_graph(|b| {
            let t = b.input("ids", &ids, DType::I64).unwrap();
            b.add("emb", Op::Embedding(Embedding { vocab, dim }), &[t]).unwrap()
        });
        assert_all_pass(&r)?;
    }
}

/// Every kernel reads a view at its element offset: a contiguous slice of the input (all leading axes of
/// size 1) is not copied, and the ops read it where it starts.
#[test]
fn ops_read_views_at_their_offset() {
    let r = check_graph(|b| {
        let x = b.input("x", &[1, 5, 6, 7], DType::F32).unwrap();
        let v = b.slice("tail", x, 1, 2, None).unwrap();
        let p = b.add("max", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 2)), &[v]).unwrap();
        let a = b.add("adaptive", Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![2, 2] }), &[p]).unwrap();
        let a = b.slice("a_tail", a, 1, 1, None).unwrap();
        let u = b.add("up", Op::Upsample(Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Linear, align_corners: false }), &[a]).unwrap();
        let ids = b.input("ids", &[1, 9], DType::I64).unwrap();
        let ids = b.slice("ids_tail", ids, 1, 4, None).unwrap();
        let e = b.add("emb", Op::Embedding(Embedding { vocab: 11, dim: 3 }), &[ids]).unwrap();
        let e = b.reshape("e4", e, &[1, 1, 5, 3]).unwrap();
        let u = b.reshape("u4", u, &[1, 1, 8, 4]).unwrap();
        let s = b.slice("u_head", u, 2, 0, Some(5)).unwrap();
        let s = b.slice("u_cols", s, 3, 0, Some(3)).unwrap();
        b.binary("join", BinaryKind::Add, e, s).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// On an adapter whose grid dimension holds 7 workgroups, launches of up to 7³ workgroups are spread over
/// x, y and z: every kernel still writes each output once, in the right place.
#[test]
fn launches_spread_over_the_grid_dimensions() {
    let r = check_graph_on(gpu_with_small_grid(), |b| {
        // 3 x 4 x 21 x 31 = 7812 outputs: 31 workgroups of 256 (x 7, y 5).
        let x = b.input("x", &[3, 4, 40, 60], DType::F32).unwrap();
        let p = Pool { padding: vec![1], ceil_mode: true, ..Pool::new(PoolKind::Avg, 2, 3, 2) };
        let p = b.add("avg", Op::Pool(p), &[x]).unwrap();
        let m = b.add("max", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 1)), &[p]).unwrap();
        let a = b.add("adaptive", Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![13, 17] }), &[m]).unwrap();
        // 3 x 4 x 52 x 68 = 42432 outputs: 166 workgroups (x 7, y 7, z 4).
        let u = b.add("up", Op::Upsample(Upsample { scale: Some(4.0), size: None, mode: UpsampleMode::Linear, align_corners: true }), &[a]).unwrap();
        let n = b.add("nearest", Op::Upsample(Upsample { scale: None, size: Some(vec![20, 30]), mode: UpsampleMode::Nearest, align_corners: false }), &[u]).unwrap();
        let ids = b.input("ids", &[40, 60], DType::I64).unwrap();
        let e = b.add("emb", Op::Embedding(Embedding { vocab: 100, dim: 4 }), &[ids]).unwrap();
        let e = b.permute("e_nchw", e, &[2, 0, 1]).unwrap();
        let e = b.unsqueeze("e_batch", e, 0).unwrap();
        let e = b.add("e_pool", Op::Pool(Pool::new(PoolKind::Max, 2, 2, 2)), &[e]).unwrap();
        b.binary("join", BinaryKind::Add, n, e).unwrap()
    });
    assert_all_pass(&r).unwrap();
}

/// More than 65535 workgroups on the adapter's real limit: 2^16 ids of width 256 gather 2^24 values, 65536
/// workgroups of 256, spread over x and y.
#[test]
fn embedding_beyond_one_grid_dimension_is_spread() {
    let r = check_graph(|b| {
        let ids = b.input("ids", &[256, 256], DType::I64).unwrap();
        b.add("emb", Op::Embedding(Embedding { vocab: 1000, dim: 256 }), &[ids]).unwrap()
    });
    assert_all_pass(&r).unwrap();
}
