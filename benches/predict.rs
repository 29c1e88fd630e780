//! Prediction speed: simulated ops per second for every built-in workload on the default hardware.
//! `cargo bench --bench predict` prints criterion's throughput (`thrpt`, in simulated ops per second) and a
//! summary line per workload. Target (issue 2): at least 2 million simulated ops per second per core on the
//! larger workload, so that sweeps can evaluate thousands of configurations per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mmbench::graph::{builtin, load_workload, WorkloadOptions};
use mmbench::hardware::{load_hardware, DEFAULT_HARDWARE};
use mmbench::predict::{build_plan, predict, predict_latency, simulate, PredictOptions};
use std::hint::black_box;
use std::time::Instant;

fn bench(c: &mut Criterion) {
    let hw = load_hardware(DEFAULT_HARDWARE, &[]).unwrap();
    let opts = PredictOptions::default();
    let mut summary = Vec::new();
    for name in builtin::workload_names() {
        let w = load_workload(name, &WorkloadOptions::default()).unwrap();
        let plan = build_plan(&w, &hw, &opts).unwrap();
        let n = plan.ops.len() as u64;
        let mut g = c.benchmark_group("predict");
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("latency (plan + simulate)", name), &w, |b, w| b.iter(|| predict_latency(black_box(w), &hw, &opts).unwrap()));
        g.bench_with_input(BenchmarkId::new("simulate only", name), &plan, |b, p| b.iter(|| simulate(black_box(p))));
        g.bench_with_input(BenchmarkId::new("full trace", name), &w, |b, w| b.iter(|| predict(black_box(w), &hw, &opts).unwrap()));
        g.finish();
        // A plain timing for the summary line.
        let reps = (200_000 / n.max(1)).max(10);
        let t0 = Instant::now();
        for _ in 0..reps {
            black_box(predict_latency(&w, &hw, &opts).unwrap());
        }
        let per = t0.elapsed().as_secs_f64() / reps as f64;
        summary.push(format!("{name:<14} {n:>6} simulated ops  {:>8.2} us per prediction  {:>6.2} M simulated ops/s (one core)", per * 1e6, n as f64 / per / 1e6));
    }
    println!("\nprediction speed on {DEFAULT_HARDWARE} (plan + simulate):");
    for l in summary {
        println!("  {l}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
