//! Sweep speed: configurations per second on all cores, for AV-MNIST and for the largest built-in workload.
//! `cargo bench --bench sweep` prints one line per workload. Targets (issue 7): at least 10,000
//! configurations per second for AV-MNIST and 500 for the largest workload, on 2 cores.

use mmbench::graph::{builtin, load_workload, WorkloadOptions};
use mmbench::sweep::{self, SweepSpec};
use std::time::Instant;

/// A grid over bandwidth, FLOP/s and batch: every configuration has its own hardware description.
fn spec(workload: &str, bw_steps: usize, flops_steps: usize) -> SweepSpec {
    let text = format!(
        "name: bench\nworkloads: [{workload}]\nhardware: a100\naxes:\n  batch: [1, 8, 32, 64]\n  gpu.mem_bw_gbs: {{log_range: [400, 8000], steps: {bw_steps}}}\n  gpu.peak_tflops.fp32: {{log_range: [5, 100], steps: {flops_steps}}}\n"
    );
    SweepSpec::parse("bench.yaml", &text).unwrap()
}

fn measure(workload: &str, bw: usize, fl: usize) -> (usize, f64) {
    let s = spec(workload, bw, fl);
    let configs = sweep::configurations(&s);
    // Warm-up on a slice, then the timed run.
    sweep::run(&s, &configs[..configs.len().min(64)], &|_| {}).unwrap();
    let t0 = Instant::now();
    let rows = sweep::run(&s, &configs, &|_| {}).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(rows.iter().all(|r| r.error.is_none()));
    (rows.len(), rows.len() as f64 / secs)
}

fn main() {
    // Criterion's harness flags (--bench) are accepted and ignored.
    let largest = builtin::workload_names()
        .max_by_key(|n| load_workload(n, &WorkloadOptions::default()).map(|w| w.len()).unwrap_or(0))
        .unwrap();
    println!("sweep speed on {} threads (plan + simulate + metrics, all metrics recorded):", rayon::current_num_threads());
    for (name, bw, fl) in [("av-mnist", 50, 50), (largest, 10, 5)] {
        let (n, per_s) = measure(name, bw, fl);
        println!("  {name:<14} {n:>6} configurations  {per_s:>10.0} configurations/s");
    }
}
