//! A small two-modality graph runs end to end through the public API: every op matches the CPU reference,
//! the measured trace is valid and laid out like a predicted one, and what cannot run says why.
#![cfg(feature = "gpu")]

mod exec_util;

use exec_util::{gpu, gpu_without_timestamps, TOLERANCE};
use mmbench::analysis::stage_breakdown;
use mmbench::exec::context::Gpu;
use mmbench::exec::{run_on, RunOptions, TimingMethod};
use mmbench::graph::ops::{ReduceKind, UnaryFn, WeightKind};
use mmbench::graph::{DType, GraphBuilder, Stage, Workload};
use mmbench::trace::{RecordKind, TraceSource};

/// audio [2, 16] and image [2, 3, 8, 8] encoders, concat fusion, a shared-weight head and a mean.
fn two_modalities() -> Workload {
    let mut b = GraphBuilder::new(2);
    b.set_stage(Stage::Encoder, Some("audio"));
    let a = b.input("audio/x", &[2, 16], DType::F32).unwrap();
    let a = b.linear("audio/fc", a, 32, true).unwrap();
    let a = b.relu("audio/relu", a).unwrap();
    b.set_stage(Stage::Encoder, Some("image"));
    let i = b.input("image/x", &[2, 3, 8, 8], DType::F32).unwrap();
    let i = b.flatten("image/flat", i, 1).unwrap();
    let i = b.linear("image/fc", i, 32, false).unwrap();
    let i = b.unary("image/gelu", UnaryFn::Gelu, i).unwrap();
    b.set_stage(Stage::Fusion, None);
    let f = b.concat("fusion/cat", &[a, i], 1).unwrap();
    let g = b.weight("fusion/gate", &[64], WeightKind::Param).unwrap();
    let f = b.binary("fusion/gate_mul", mmbench::graph::ops::BinaryKind::Mul, f, g).unwrap();
    b.set_stage(Stage::Head, None);
    let group = b.qualified("tied");
    let mut h = f;
    for l in 0..2 {
        h = b.scope(&format!("head{l}"), |b| b.shared(&group, |b| b.linear("fc", h, 64, true))).unwrap();
    }
    let h = b.softmax("head/softmax", h, -1).unwrap();
    let out = b.reduce("head/mean", ReduceKind::Mean, h, &[0], false).unwrap();
    b.finish("two-modalities", "test graph", vec![out])
}

#[test]
fn small_graph_runs_and_matches_the_reference() {
    let w = two_modalities();
    let m = run_on(gpu(), &w, &RunOptions { iters: 3, warmup: 1, check: true, ..RunOptions::default() }).unwrap();
    let check = m.stats.check.as_ref().expect("checked");
    assert_eq!(check.ops.len(), w.compute_ops());
    for o in &check.ops {
        assert!(o.passed(TOLERANCE), "{} (`{}`): error {:e}, {} unwritten", o.name, o.op, o.rel_l2, o.unwritten);
    }
    let t = &m.trace;
    t.validate().unwrap();
    assert_eq!(t.source, TraceSource::Measured { adapter: gpu().name().to_string() });
    assert_eq!(t.devices, vec!["gpu".to_string()]);
    assert_eq!(t.ops.iter().filter(|r| r.kind == RecordKind::Input).count(), 2);
    assert_eq!(t.executed().count(), w.compute_ops());
    assert!(t.latency_s > 0.0 && t.latency_s == m.stats.wall.median_s.max(t.latency_s));
    // Stage breakdown: both encoders, fusion and head, adding up to the latency.
    let stages = stage_breakdown(t);
    assert_eq!(stages.len(), 4);
    let total: f64 = stages.iter().map(|s| s.seconds).sum();
    assert!((total - t.latency_s).abs() < 1e-9 * t.latency_s.max(1.0), "{total} vs {}", t.latency_s);
    assert_eq!(m.stats.iterations, 3);
    assert_eq!(m.stats.ops.len(), w.compute_ops());
    if gpu().timestamps {
        assert_eq!(m.stats.timing, TimingMethod::TimestampQuery);
    }
}

#[test]
fn an_unknown_adapter_lists_the_available_ones() {
    let err = Gpu::new(Some("no-such-adapter-xyz")).err().expect("no adapter has this name");
    let msg = err.to_string();
    assert!(msg.contains("no-such-adapter-xyz") && msg.contains(gpu().name()), "{msg}");
}

#[test]
fn zero_iterations_are_refused() {
    let w = two_modalities();
    let err = run_on(gpu(), &w, &RunOptions { iters: 0, ..RunOptions::default() }).unwrap_err();
    assert!(err.to_string().contains("--iters"), "{err}");
}

#[test]
fn without_timestamps_ops_are_timed_one_submission_each() {
    let w = two_modalities();
    let m = run_on(gpu_without_timestamps(), &w, &RunOptions { iters: 2, warmup: 0, ..RunOptions::default() }).unwrap();
    assert_eq!(m.stats.timing, TimingMethod::PerOpSubmit);
    m.trace.validate().unwrap();
    assert!(m.trace.executed().all(|r| r.end_s > r.start_s));
}

/// An op that no split into pieces makes fit (a softmax over one row longer than the adapter binds at once)
/// is refused with an error that names the node, the kernel and both sizes; ops that can be cut run in
/// pieces instead (see `exec_split`).
#[test]
fn a_tensor_too_large_for_the_adapter_is_a_clear_error() {
    let max = gpu().limits.max_storage_buffer_binding_size;
    let big = (max / 4 + 1) as usize;
    let mut b = GraphBuilder::new(1);
    let x = b.weight("big", &[big], WeightKind::Buffer).unwrap();
    b.softmax("softmax", x, 0).unwrap();
    let w = b.finish("big", "", vec![]);
    let err = run_on(gpu(), &w, &RunOptions::default()).unwrap_err().to_string();
    assert!(err.contains("`softmax`") && err.contains("kernel `softmax`") && err.contains(&max.to_string()) && err.contains("lower the batch size"), "{err}");
}

/// An image encoder whose input comes from host work (a decoder) and whose result a second host item reads
/// back (an `.item()`): both run on the CPU between GPU submissions, in order.
fn with_host_work() -> Workload {
    use mmbench::graph::ops::HostWork;
    use mmbench::graph::Op;
    let host = |label: &str, output: Vec<usize>| {
        Op::HostWork(HostWork { label: label.into(), output, flops_per_sample: 2_000_000, bytes_per_sample: 64 * 1024, threads: Some(1), dtype: DType::F32, batch: 2 })
    };
    let mut b = GraphBuilder::new(2);
    b.set_stage(Stage::Encoder, Some("image"));
    let raw = b.input("image/raw", &[2, 100], DType::F32).unwrap();
    let x = b.add("image/decode", host("decode", vec![48]), &[raw]).unwrap();
    let x = b.linear("image/fc", x, 16, true).unwrap();
    b.set_stage(Stage::Head, None);
    let s = b.reduce("head/sum", ReduceKind::Sum, x, &[1], false).unwrap();
    let check = b.add("head/item", host("item", vec![]), &[s]).unwrap();
    b.finish("host-work", "test graph", vec![s, check])
}

#[test]
fn host_work_runs_on_the_cpu_between_submissions() {
    let w = with_host_work();
    for g in [gpu(), gpu_without_timestamps()] {
        let m = run_on(g, &w, &RunOptions { iters: 3, warmup: 1, check: true, ..Default::default() }).unwrap();
        let check = m.stats.check.as_ref().unwrap();
        assert_eq!(check.failures().count(), 0, "{check:?}");
        m.trace.validate().unwrap();
        let at = |name: &str| m.trace.ops.iter().find(|r| r.name == name).unwrap();
        let (decode, fc, sum, item) = (at("image/decode"), at("image/fc"), at("head/sum"), at("head/item"));
        // Program order on one timeline: the decode finishes before the GPU reads its output, and the
        // `.item()` starts only once the reduction it reads has finished.
        assert!(decode.end_s <= fc.start_s + 1e-9, "{decode:?} {fc:?}");
        assert!(sum.end_s <= item.start_s + 1e-9, "{sum:?} {item:?}");
        // 2 x 2 MFLOP of host work takes measurable time.
        assert!(decode.end_s - decode.start_s > 1e-5);
        assert!(m.trace.latency_s >= item.end_s);
    }
}

/// A timed run reuses output buffers once their last reader has run (as a framework's allocator does, so
/// that sarcasm fits in memory at its default size): fewer buffers, the same result.
#[test]
fn reusing_buffers_gives_the_same_output_in_fewer_buffers() {
    use mmbench::exec::execute::Executor;
    use mmbench::exec::plan::Memory;
    let w = two_modalities();
    let keep = Executor::with_memory(gpu(), &w, Memory::KeepAll).unwrap();
    let reuse = Executor::with_memory(gpu(), &w, Memory::Reuse).unwrap();
    assert!(reuse.plan.buffers.len() < keep.plan.buffers.len(), "{} vs {}", reuse.plan.buffers.len(), keep.plan.buffers.len());
    let out = w.outputs[0].index();
    let result = |e: &Executor| {
        e.run_once().unwrap();
        let t = &e.plan.values[out];
        e.read_buffer(t.buffer).unwrap()[t.offset as usize..(t.offset + t.numel()) as usize].to_vec()
    };
    let (a, b) = (result(&keep), result(&reuse));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    // Twice in a row too: nothing a later op overwrote is read as an input of the next iteration.
    assert_eq!(result(&reuse), b);
}
