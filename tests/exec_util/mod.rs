//! Shared by the `exec_*` tests: one device for the whole test binary, and "build a one-op graph, run it
//! on the GPU, compare with the CPU reference".
//!
//! There is deliberately no skip when no adapter exists: CI installs lavapipe (`mesa-vulkan-drivers`), so a
//! missing adapter is a broken environment and the tests fail.

#![allow(dead_code)]

use mmbench::exec::context::Gpu;
use mmbench::exec::{check_on, CheckReport};
use mmbench::graph::{GraphBuilder, Stage, Workload};
use petgraph::graph::NodeIndex;
use std::sync::OnceLock;

/// The largest relative L2 error a kernel may have against the reference.
pub const TOLERANCE: f64 = 1e-4;

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}")))
}

/// The same adapter with subgroup kernels turned off, so that their fallbacks are tested too.
pub fn gpu_without_subgroups() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.subgroups = false;
        g
    })
}

/// The same adapter running GEMMs on the workgroup-memory kernel written for real GPUs (`matmul_tiled.wgsl`),
/// so that it is checked here too.
pub fn gpu_with_tiled_gemm() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.tiled_gemm = true;
        g
    })
}

/// [`gpu_with_small_bindings`] with the tiled GEMM.
pub fn gpu_with_small_bindings_tiled() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.limits.max_storage_buffer_binding_size = SMALL_BINDING;
        g.tiled_gemm = true;
        g
    })
}

/// The same adapter timed as if it had no timestamp queries (each op submitted alone).
pub fn gpu_without_timestamps() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.timestamps = false;
        g
    })
}

/// Most bytes [`gpu_with_small_bindings`] binds at once.
pub const SMALL_BINDING: u64 = 64 * 1024;

/// The same adapter binding at most [`SMALL_BINDING`] bytes at once (as if it were lavapipe's 128 MiB for
/// tensors of a few hundred KB): tensors past that are bound in windows, and ops run in pieces.
pub fn gpu_with_small_bindings() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.limits.max_storage_buffer_binding_size = SMALL_BINDING;
        g
    })
}

/// [`gpu_with_small_bindings`] without subgroup kernels.
pub fn gpu_with_small_bindings_without_subgroups() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let mut g = Gpu::new(None).unwrap_or_else(|e| panic!("no GPU adapter for the executor tests: {e}"));
        g.limits.max_storage_buffer_binding_size = SMALL_BINDING;
        g.subgroups = false;
        g
    })
}

/// Builds a graph with `build` (inputs and ops in the encoder stage of modality `m`), runs it on the GPU
/// with NaN-poisoned outputs, and checks every op against the reference.
pub fn check_graph(build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) -> CheckReport {
    check_graph_on(gpu(), build)
}

/// [`check_graph`] on a given device.
pub fn check_graph_on(gpu: &Gpu, build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) -> CheckReport {
    check_on(gpu, &graph(build), TOLERANCE).unwrap_or_else(|e| panic!("running the graph failed: {e}"))
}

/// The one-modality test workload `build` makes.
pub fn graph(build: impl FnOnce(&mut GraphBuilder) -> NodeIndex) -> Workload {
    let mut b = GraphBuilder::new(1);
    b.set_stage(Stage::Encoder, Some("m"));
    let out = build(&mut b);
    b.finish("test", "", vec![out])
}

/// Fails with the offending op unless every op matches the reference and wrote every element.
pub fn assert_all_pass(r: &CheckReport) -> Result<(), proptest::test_runner::TestCaseError> {
    proptest::prop_assert!(!r.ops.is_empty(), "no op ran");
    for o in &r.ops {
        proptest::prop_assert!(o.unwritten == 0, "{} (`{}`) left {} of {} elements unwritten", o.name, o.op, o.unwritten, o.elements);
        proptest::prop_assert!(o.rel_l2 < TOLERANCE, "{} (`{}`) relative L2 error {:e}", o.name, o.op, o.rel_l2);
    }
    Ok(())
}
