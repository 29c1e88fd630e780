//! Property tests of the simulator's invariants on random multi-branch workloads and random hardware.

use mmbench::graph::{DType, GraphBuilder, Stage, Workload};
use mmbench::hardware::{load_hardware, Hardware, Streams};
use mmbench::predict::{build_plan, predict, simulate_in_order, simulate_shared, Placement, PredictOptions};
use mmbench::trace::RecordKind;
use proptest::prelude::*;

/// A random workload: 1-4 modality branches, each a chain of 1-6 linear/relu/conv-free layers of random
/// widths, joined by a concat, followed by a 1-3 layer head.
#[derive(Debug, Clone)]
struct Spec {
    batch: usize,
    branches: Vec<(usize, Vec<usize>)>,
    head: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let branch = (1usize..512, prop::collection::vec(1usize..1024, 1..6));
    (1usize..64, prop::collection::vec(branch, 1..4), prop::collection::vec(1usize..512, 1..3))
        .prop_map(|(batch, branches, head)| Spec { batch, branches, head })
}

fn build(s: &Spec) -> Workload {
    let mut b = GraphBuilder::new(s.batch);
    let mut outs = Vec::new();
    for (i, (inp, widths)) in s.branches.iter().enumerate() {
        let m = format!("m{i}");
        b.set_stage(Stage::Encoder, Some(&m));
        let mut x = b.input(&format!("{m}/input"), &[s.batch, *inp], DType::F32).unwrap();
        for (j, &w) in widths.iter().enumerate() {
            x = b.linear(&format!("{m}/fc{j}"), x, w, true).unwrap();
            x = b.relu(&format!("{m}/relu{j}"), x).unwrap();
        }
        outs.push(x);
    }
    b.set_stage(Stage::Fusion, None);
    let mut x = if outs.len() > 1 { b.concat("fusion/concat", &outs, 1).unwrap() } else { b.relu("fusion/relu", outs[0]).unwrap() };
    b.set_stage(Stage::Head, None);
    for (j, &w) in s.head.iter().enumerate() {
        x = b.linear(&format!("head/fc{j}"), x, w, true).unwrap();
    }
    b.finish("random", "", vec![x])
}

/// Random hardware: the a100 preset with scaled rates and overheads, and a random runtime.
#[derive(Debug, Clone)]
struct Hw {
    flops_scale: f64,
    bw_scale: f64,
    overhead_us: f64,
    per_branch: bool,
    audio_on_cpu: bool,
}

fn hw_spec() -> impl Strategy<Value = Hw> {
    (0.05f64..4.0, 0.05f64..4.0, 0.0f64..20.0, any::<bool>(), any::<bool>())
        .prop_map(|(flops_scale, bw_scale, overhead_us, per_branch, audio_on_cpu)| Hw { flops_scale, bw_scale, overhead_us, per_branch, audio_on_cpu })
}

fn hardware(h: &Hw) -> Hardware {
    let mut hw = load_hardware("a100", &[]).unwrap();
    for d in &mut hw.devices {
        for v in d.peak_tflops.values_mut() {
            *v *= h.flops_scale;
        }
        d.mem_bw_gbs *= h.bw_scale;
    }
    for r in &mut hw.runtimes {
        r.op_overhead_us = h.overhead_us;
    }
    hw
}

fn options(h: &Hw, w: &Workload) -> PredictOptions {
    let runtime = Some(if h.per_branch { "eager_streams" } else { "eager" }.to_string());
    let mut placement = Placement::default();
    if h.audio_on_cpu && !w.modalities.is_empty() {
        placement.assignments.push((w.modalities[0].clone(), "cpu".to_string()));
    }
    PredictOptions { runtime, placement }
}

/// Longest path through the DAG of op durations: what infinite overlap and free launches could reach.
fn critical_path_bound(trace: &mmbench::trace::Trace) -> f64 {
    let mut finish = vec![0.0f64; trace.ops.len()];
    for (i, r) in trace.ops.iter().enumerate() {
        let ready = r.inputs.iter().map(|&p| finish[p as usize]).fold(0.0, f64::max);
        finish[i] = ready + r.duration_s();
    }
    finish.into_iter().fold(0.0, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn latency_is_between_critical_path_and_serial_sum(s in spec(), h in hw_spec()) {
        let w = build(&s);
        let hw = hardware(&h);
        let opts = options(&h, &w);
        let plan = build_plan(&w, &hw, &opts).unwrap();
        let t = predict(&w, &hw, &opts).unwrap();
        t.validate().map_err(TestCaseError::fail)?;
        let lower = critical_path_bound(&t);
        let serial: f64 = plan.ops.iter().map(|o| o.duration_s + o.host_cost_s).sum::<f64>() + plan.final_sync_s;
        prop_assert!(t.latency_s + 1e-12 >= lower, "latency {} < critical path {}", t.latency_s, lower);
        prop_assert!(t.latency_s <= serial * (1.0 + 1e-9) + 1e-12, "latency {} > serial sum {}", t.latency_s, serial);
    }

    #[test]
    fn more_bandwidth_or_flops_never_slows_a_prediction(s in spec(), h in hw_spec(), more in 1.0f64..8.0, which in 0usize..2) {
        let w = build(&s);
        let base = predict(&w, &hardware(&h), &options(&h, &w)).unwrap().latency_s;
        let mut better = h.clone();
        if which == 0 { better.bw_scale *= more } else { better.flops_scale *= more }
        let faster = predict(&w, &hardware(&better), &options(&better, &w)).unwrap().latency_s;
        prop_assert!(faster <= base * (1.0 + 1e-9), "better hardware got slower: {} > {}", faster, base);
    }

    #[test]
    fn fusion_never_starts_before_its_slowest_input(s in spec(), h in hw_spec()) {
        let w = build(&s);
        let t = predict(&w, &hardware(&h), &options(&h, &w)).unwrap();
        for r in t.ops.iter().filter(|r| r.kind == RecordKind::Op && r.stage == Stage::Fusion) {
            let slowest = r.inputs.iter().map(|&p| t.ops[p as usize].end_s).fold(0.0, f64::max);
            prop_assert!(r.start_s + 1e-15 >= slowest, "{} starts at {} before input end {}", r.name, r.start_s, slowest);
        }
    }

    #[test]
    fn predictions_are_deterministic(s in spec(), h in hw_spec()) {
        let w = build(&s);
        let hw = hardware(&h);
        let a = predict(&w, &hw, &options(&h, &w)).unwrap();
        let b = predict(&build(&s), &hardware(&h), &options(&h, &w)).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn fast_path_equals_general_simulator_without_concurrency(s in spec(), h in hw_spec()) {
        let w = build(&s);
        let single = Hw { per_branch: false, ..h };
        let plan = build_plan(&w, &hardware(&single), &options(&single, &w)).unwrap();
        prop_assert!(!plan.has_concurrency());
        let fast = simulate_in_order(&plan);
        let general = simulate_shared(&plan);
        prop_assert!((fast.latency_s - general.latency_s).abs() <= 1e-12 * fast.latency_s.max(1e-9));
        for i in 0..plan.ops.len() {
            prop_assert!((fast.end_s[i] - general.end_s[i]).abs() <= 1e-12 * fast.latency_s.max(1e-9));
        }
    }
}

#[test]
fn fusion_waits_for_slowest_branch_with_streams() {
    // Two branches of very different size on separate streams: the concat starts when the big one ends, and
    // the small branch's wait is the difference.
    let s = Spec { batch: 32, branches: vec![(64, vec![8]), (1024, vec![1024, 1024, 1024, 1024])], head: vec![4] };
    let w = build(&s);
    let h = Hw { flops_scale: 1.0, bw_scale: 1.0, overhead_us: 0.0, per_branch: true, audio_on_cpu: false };
    let hw = hardware(&h);
    assert!(hw.runtimes.iter().any(|r| r.streams == Streams::PerBranch));
    let t = predict(&w, &hw, &options(&h, &w)).unwrap();
    let join = t.ops.iter().find(|r| r.name == "fusion/concat").unwrap();
    let ends: Vec<f64> = join.inputs.iter().map(|&p| t.ops[p as usize].end_s).collect();
    let slowest = ends.iter().copied().fold(0.0, f64::max);
    assert!(join.start_s >= slowest);
    let rep = mmbench::analysis::sync_report(&t);
    assert_eq!(rep.joins.len(), 1);
    // The small branch waits from its end until the big one ends.
    let spread = slowest - ends.iter().copied().fold(f64::MAX, f64::min);
    assert!((rep.total_wait_s - spread).abs() < 1e-12);
    let waits: f64 = ends.iter().map(|e| join.start_s - e).sum();
    assert!((rep.summed_wait_s - waits).abs() < 1e-12);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With streams sharing a slow device the timeline reaches minutes, where leftovers of a kernel's work fall
    /// below the resolution of the clock; every kernel still finishes (this once looped forever: Sarcasm on
    /// jetson-nano with eager_streams).
    #[test]
    fn shared_devices_finish_timelines_of_minutes(s in spec(), slow in 1e-7f64..1e-4) {
        let w = build(&s);
        let h = Hw { flops_scale: slow, bw_scale: slow, overhead_us: 0.0, per_branch: true, audio_on_cpu: false };
        let (hw, opts) = (hardware(&h), options(&h, &w));
        let plan = build_plan(&w, &hw, &opts).unwrap();
        let t = predict(&w, &hw, &opts).unwrap();
        t.validate().map_err(TestCaseError::fail)?;
        let serial: f64 = plan.ops.iter().map(|o| o.duration_s + o.host_cost_s).sum::<f64>() + plan.final_sync_s;
        prop_assert!(t.latency_s * (1.0 + 1e-9) >= critical_path_bound(&t), "latency {} below the critical path", t.latency_s);
        prop_assert!(t.latency_s <= serial * (1.0 + 1e-9), "latency {} > serial sum {}", t.latency_s, serial);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A runtime that pays per submitted kernel at the final sync (wgpu's single submission) adds exactly
    /// that cost times the kernels run off the host, and nothing when every op runs on the host.
    #[test]
    fn the_final_sync_pays_per_kernel_submitted(s in spec(), h in hw_spec(), per_kernel_us in 0.0f64..20.0) {
        let w = build(&s);
        let mut hw = hardware(&h);
        let opts = options(&h, &w);
        let before = predict(&w, &hw, &opts).unwrap().latency_s;
        for r in &mut hw.runtimes {
            r.submit_per_kernel_us = per_kernel_us;
        }
        let plan = build_plan(&w, &hw, &opts).unwrap();
        let host = hw.host as u16;
        let kernels: u64 = w.nodes().filter(|(i, n)| n.cost.class.launches_kernel() && plan.node_device[i.index()] != host).map(|(_, n)| u64::from(n.cost.kernels)).sum();
        let after = predict(&w, &hw, &opts).unwrap().latency_s;
        let want = kernels as f64 * per_kernel_us * 1e-6;
        prop_assert!((after - before - want).abs() <= 1e-9 * after.max(1e-6), "added {} s, want {want} s ({kernels} kernels)", after - before);
    }
}
