//! The executor's two defining figures, printed in one run (`cargo bench --bench exec`):
//! - GEMM throughput: the wgpu matmul kernel at 1024³ beside ndarray's sgemm on the CPU (matrixmultiply,
//!   threaded over every core; `MMTHREADS` overrides the count);
//! - dispatch overhead: a chain of many one-element ops, so that per-op time is all overhead.
//!
//! Criterion measures end-to-end times (submit to work done for the GPU); the summary at the end adds the
//! GPU-timestamp figures. `MMBENCH_ADAPTER=NAME` picks the adapter; `MMBENCH_SUMMARY_ONLY=1` skips criterion.

use criterion::{criterion_group, Criterion, Throughput};
use mmbench::exec::context::Gpu;
use mmbench::exec::execute::{self as mexec, Executor};
use mmbench::exec::Spread;
use mmbench::graph::ops::UnaryFn;
use mmbench::graph::{DType, GraphBuilder, Workload};
use ndarray::Array2;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const N: usize = 1024;
/// Ops in the dispatch-overhead chain.
const CHAIN: usize = 200;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(std::env::var("MMBENCH_ADAPTER").ok().as_deref()).unwrap_or_else(|e| panic!("{e}")))
}

/// `[N, N] · [N, N]`.
fn matmul_graph() -> Workload {
    let mut b = GraphBuilder::new(1);
    let x = b.input("a", &[N, N], DType::F32).unwrap();
    let y = b.input("b", &[N, N], DType::F32).unwrap();
    let z = b.matmul("mm", x, y, false, 1.0).unwrap();
    b.finish("matmul", "", vec![z])
}

/// `CHAIN` scales of one element, one after another.
fn chain_graph() -> Workload {
    let mut b = GraphBuilder::new(1);
    let mut x = b.input("x", &[1], DType::F32).unwrap();
    for i in 0..CHAIN {
        x = b.unary(&format!("s{i}"), UnaryFn::Scale { factor: 1.0, offset: 0.0 }, x).unwrap();
    }
    b.finish("chain", "", vec![x])
}

fn random(seed: f32) -> Array2<f32> {
    Array2::from_shape_fn((N, N), |(i, j)| ((i * 31 + j * 17) as f32 * seed).sin())
}

fn bench(c: &mut Criterion) {
    let flops = 2 * (N as u64).pow(3);
    let mut g = c.benchmark_group("matmul-1024");
    g.sample_size(10).measurement_time(Duration::from_secs(8)).throughput(Throughput::Elements(flops));
    let (a, b) = (random(0.37), random(0.11));
    g.bench_function("ndarray-sgemm-cpu", |bench| bench.iter(|| a.dot(&b)));
    let exec = Executor::new(gpu(), &matmul_graph()).unwrap();
    g.bench_function("wgpu", |bench| bench.iter(|| exec.run_once().unwrap()));
    g.finish();

    let mut g = c.benchmark_group("dispatch-overhead");
    g.sample_size(10).measurement_time(Duration::from_secs(4)).throughput(Throughput::Elements(CHAIN as u64));
    let chain = Executor::new(gpu(), &chain_graph()).unwrap();
    g.bench_function(format!("{CHAIN}-one-element-ops"), |bench| bench.iter(|| chain.run_once().unwrap()));
    g.finish();
}

/// Process CPU seconds (user + system, all threads) per call of `f`, over 8 calls; Linux only.
fn cpu_seconds(mut f: impl FnMut()) -> Option<f64> {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz).
        let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
        Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
    };
    let t0 = read()?;
    for _ in 0..8 {
        f();
    }
    Some((read()? - t0) / 8.0)
}

/// Median of `n` samples.
fn median(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    Spread::of(&(0..n).map(|_| f()).collect::<Vec<_>>()).median_s
}

fn summary() {
    let g = gpu();
    let flops = 2.0 * (N as f64).powi(3);
    let (a, b) = (random(0.37), random(0.11));
    let _ = a.dot(&b);
    let cpu_s = median(5, || {
        let t = Instant::now();
        std::hint::black_box(a.dot(&b));
        t.elapsed().as_secs_f64()
    });
    let exec = Executor::new(g, &matmul_graph()).unwrap();
    exec.iterate().unwrap();
    let runs: Vec<_> = (0..5).map(|_| exec.iterate().unwrap()).collect();
    let wall_s = Spread::of(&runs.iter().map(|r| r.wall_s).collect::<Vec<_>>()).median_s;
    let gpu_s = Spread::of(&runs.iter().map(|r| r.ops[0].1 - r.ops[0].0).collect::<Vec<_>>()).median_s;
    let threads = std::env::var("MMTHREADS").ok().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).to_string());
    let gf = |s: f64| flops / s / 1e9;
    let kernel = if g.subgroups { "subgroup" } else { "register-blocked" };
    println!("\n== summary: {} via {}, timing {} ==", g.name(), g.backend(), exec.timing().name());
    println!("matmul {N}³  ndarray sgemm (CPU, {threads} threads)   {:8.2} GFLOP/s", gf(cpu_s));
    println!("matmul {N}³  wgpu {kernel} kernel (GPU time) {:8.2} GFLOP/s = {:.1}% of ndarray", gf(gpu_s), 100.0 * cpu_s / gpu_s);
    println!("matmul {N}³  wgpu end to end (submit to done)    {:8.2} GFLOP/s", gf(wall_s));
    // On a CPU adapter both sides run on the same cores: their CPU time is a comparison that other load on
    // the machine does not skew (wall-clock GFLOP/s above does).
    if let (Some(gpu_cpu), Some(cpu_cpu)) = (cpu_seconds(|| exec.run_once().unwrap()), cpu_seconds(|| drop(std::hint::black_box(a.dot(&b))))) {
        println!("matmul {N}³  process CPU seconds per product: wgpu {gpu_cpu:.3}, ndarray {cpu_cpu:.3} = {:.1}% (CPU adapters)", 100.0 * cpu_cpu / gpu_cpu);
    }

    let chain = Executor::new(g, &chain_graph()).unwrap();
    chain.iterate().unwrap();
    let runs: Vec<_> = (0..10).map(|_| chain.iterate().unwrap()).collect();
    let per_op = |f: &dyn Fn(&mexec::Iteration) -> f64| Spread::of(&runs.iter().map(f).collect::<Vec<_>>()).median_s / CHAIN as f64 * 1e6;
    // End to end: submit to done over the chain. GPU timeline: first op start to last op end, i.e. kernel
    // time plus the gaps between passes.
    let wall_us = per_op(&|r| r.wall_s);
    let span_us = per_op(&|r| r.ops.last().unwrap().1);
    let kernel_us = Spread::of(&runs.iter().flat_map(|r| r.ops.iter().map(|o| o.1 - o.0)).collect::<Vec<_>>()).median_s * 1e6;
    println!("dispatch overhead  {CHAIN} one-element ops, one submission: {wall_us:.2} µs per op end to end, {span_us:.2} µs on the GPU timeline (median op {kernel_us:.2} µs)");
}

criterion_group!(benches, bench);

fn main() {
    // `MMBENCH_SUMMARY_ONLY=1` skips criterion and prints the summary alone (quick kernel tuning).
    if std::env::var_os("MMBENCH_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    summary();
}
