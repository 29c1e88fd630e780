//! Characterization speed: `mmbench characterize` over every built-in workload on a cloud and an edge preset
//! (a100, jetson-agx-orin), everything but the disk: predict, compute the metrics, render the report, CSVs,
//! SVG plots and Chrome traces in memory. `cargo bench --bench characterize` prints criterion's estimate and
//! a summary line. Target (issue 6): under one second.

use criterion::{criterion_group, criterion_main, Criterion};
use mmbench::cli::characterize::characterize_predictions;
use mmbench::graph::{builtin, load_workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::PredictOptions;
use mmbench::report::characterize::characterize_files;
use std::hint::black_box;
use std::time::Instant;

const HARDWARE: [&str; 2] = ["a100", "jetson-agx-orin"];

fn bench(c: &mut Criterion) {
    let workloads: Vec<_> = builtin::workload_names().map(|n| load_workload(n, &WorkloadOptions::default()).unwrap()).collect();
    let hardware: Vec<_> = HARDWARE.iter().map(|h| load_hardware(h, &[]).unwrap()).collect();
    let opts = PredictOptions::default();
    let run = || {
        let items = characterize_predictions(&workloads, &hardware, &opts).unwrap();
        characterize_files(&items).unwrap()
    };
    let mut g = c.benchmark_group("characterize");
    g.sample_size(10);
    g.bench_function("all built-in workloads x 2 presets", |b| b.iter(|| black_box(run())));
    g.finish();
    let t0 = Instant::now();
    let files = run();
    let once = t0.elapsed().as_secs_f64();
    let bytes: usize = files.iter().map(|f| f.contents.len()).sum();
    println!(
        "\ncharacterize: {} workloads x {} presets ({}) in {:.1} ms, {} files, {:.1} MB (target: under 1 s)",
        workloads.len(),
        hardware.len(),
        HARDWARE.join(", "),
        once * 1e3,
        files.len(),
        bytes as f64 / 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
