//! The executor's defining figures, printed in one run (`cargo bench --bench exec`). Criterion measures
//! end-to-end times (submit to work done for the GPU): the wgpu matmul at 1024³ beside ndarray's sgemm on the
//! CPU, and a dispatch chain. The summary at the end prints:
//! - matmul 1024³: ndarray's sgemm (matrixmultiply, threaded over every core; `MMTHREADS` overrides the
//!   count), the wgpu kernel by GPU timestamps (and as a share of ndarray) and end to end, and both sides'
//!   process CPU seconds per product (the fair comparison on a CPU adapter);
//! - matmul 4096³: the wgpu kernel by GPU timestamps and end to end (not on a CPU adapter, where it takes
//!   minutes, unless `MMBENCH_BIG=1`);
//! - at each of those sizes, cuBLAS through PyTorch on CUDA in strict fp32 (no TF32), timed with CUDA events,
//!   and wgpu's throughput as a share of it;
//! - dispatch overhead: a chain of many one-element ops, so that per-op time is all overhead;
//! - av-mnist at batch 1, full size, end to end: wgpu beside PyTorch eager on CUDA (strict fp32), and their
//!   ratio.
//!
//! The PyTorch parts run `MMBENCH_PYTHON` (default `python3`) as a child process; without Python, PyTorch or a
//! CUDA device each prints one line saying why it was skipped. 4096³ and everything PyTorch run only under
//! `cargo bench` (`--bench` among the arguments), not when `cargo test` runs this target once.
//! `MMBENCH_ADAPTER=NAME` picks the adapter; `MMBENCH_SUMMARY_ONLY=1` skips criterion.

use criterion::{criterion_group, Criterion, Throughput};
use mmbench::backend::torch::runner::{self, TorchOptions};
use mmbench::exec::context::Gpu;
use mmbench::exec::execute::{self as mexec, Executor};
use mmbench::exec::plan::Memory;
use mmbench::exec::Spread;
use mmbench::graph::ops::UnaryFn;
use mmbench::graph::{load_workload, DType, GraphBuilder, Workload, WorkloadOptions};
use ndarray::Array2;
use serde::Deserialize;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const N: usize = 1024;
/// The large product: big enough that a GPU's launch and tail costs no longer weigh on its throughput.
const BIG: usize = 4096;
/// Ops in the dispatch-overhead chain.
const CHAIN: usize = 200;
/// The workload timed in both wgpu and PyTorch, and its batch.
const WORKLOAD: &str = "av-mnist";
const WORKLOAD_BATCH: usize = 1;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(std::env::var("MMBENCH_ADAPTER").ok().as_deref()).unwrap_or_else(|e| panic!("{e}")))
}

/// `[n, n] · [n, n]`.
fn matmul_graph(n: usize) -> Workload {
    let mut b = GraphBuilder::new(1);
    let x = b.input("a", &[n, n], DType::F32).unwrap();
    let y = b.input("b", &[n, n], DType::F32).unwrap();
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
    let exec = Executor::new(gpu(), &matmul_graph(N)).unwrap();
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

/// GFLOP/s of an `n³` product done in `s` seconds.
fn gflops(n: usize, s: f64) -> f64 {
    2.0 * (n as f64).powi(3) / s / 1e9
}

/// Whether this is `cargo bench` rather than `cargo test` running the target once: cargo passes `--bench`
/// only then (criterion reads it the same way).
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The product sizes the summary times in wgpu (and cuBLAS), or why 4096³ is left out.
fn matmul_sizes(g: &Gpu, full: bool) -> (Vec<usize>, Option<&'static str>) {
    if !full {
        return (vec![N], None);
    }
    // A software adapter takes minutes over 4096³: run it there only when asked to.
    if g.info.device_type == wgpu::DeviceType::Cpu && std::env::var("MMBENCH_BIG").as_deref() != Ok("1") {
        return (vec![N], Some("a CPU adapter takes minutes over it (MMBENCH_BIG=1 runs it)"));
    }
    (vec![N, BIG], None)
}

/// Medians of 5 timed products after one warm-up: (GPU-timestamp seconds, end-to-end seconds).
fn wgpu_matmul(exec: &Executor) -> (f64, f64) {
    exec.iterate().unwrap();
    let runs: Vec<_> = (0..5).map(|_| exec.iterate().unwrap()).collect();
    let wall_s = Spread::of(&runs.iter().map(|r| r.wall_s).collect::<Vec<_>>()).median_s;
    let gpu_s = Spread::of(&runs.iter().map(|r| r.ops[0].1 - r.ops[0].0).collect::<Vec<_>>()).median_s;
    (gpu_s, wall_s)
}

/// Times `torch.matmul` at each size given as an argument, in strict fp32, and prints one JSON line: the card,
/// torch's version and each size's seconds per product, or `{"skip": why}` without a CUDA device. A timed run
/// is `REPS` products between two CUDA events, so that a 1024³ product (tens of µs on a large card) is not
/// measured with the launch gap before it; the median of `RUNS` runs follows 3 untimed products per size.
const CUBLAS_SCRIPT: &str = r#"
import json, sys
import torch
if not torch.cuda.is_available():
    print(json.dumps({"skip": f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__})"}))
    sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
REPS, RUNS = 10, 11
seconds = []
for n in map(int, sys.argv[1:]):
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    c = torch.empty(n, n, device="cuda")
    for _ in range(3):
        torch.matmul(a, b, out=c)
    torch.cuda.synchronize()
    runs = []
    for _ in range(RUNS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(REPS):
            torch.matmul(a, b, out=c)
        end.record()
        end.synchronize()
        runs.append(start.elapsed_time(end) * 1e-3 / REPS)
    seconds.append(sorted(runs)[RUNS // 2])
print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "seconds": seconds}))
"#;

/// What `CUBLAS_SCRIPT` prints.
#[derive(Deserialize)]
#[serde(untagged)]
enum CublasReply {
    Skip { skip: String },
    Done(Cublas),
}

/// cuBLAS on the CUDA card: seconds per product, in the order of the sizes asked for.
#[derive(Deserialize)]
struct Cublas {
    device: String,
    torch: String,
    seconds: Vec<f64>,
}

/// Runs `CUBLAS_SCRIPT` over `sizes`; the error says why there is no comparison (no Python, no PyTorch, no
/// CUDA device, a failed run).
fn cublas(sizes: &[usize]) -> Result<Cublas, String> {
    let python = runner::python();
    // The library's own check: its message says what to install, as `mmbench run --backend torch` does.
    runner::preflight(&python).map_err(|e| e.to_string())?;
    let out = Command::new(&python)
        .args(["-c", CUBLAS_SCRIPT])
        .args(sizes.iter().map(usize::to_string))
        .output()
        .map_err(|e| format!("cannot start `{python}`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the cuBLAS timing failed ({}): {}", out.status, err.lines().last().unwrap_or("").trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    match serde_json::from_str(line).map_err(|e| format!("the cuBLAS timing printed `{line}`, not its JSON line: {e}"))? {
        CublasReply::Skip { skip } => Err(skip),
        CublasReply::Done(c) if c.seconds.len() == sizes.len() => Ok(c),
        CublasReply::Done(c) => Err(format!("the cuBLAS timing gave {} sizes for {}", c.seconds.len(), sizes.len())),
    }
}

/// The wgpu lines of an `n³` product; `wgpu` is (GPU-timestamp, end-to-end) seconds.
fn print_wgpu(n: usize, kernel: &str, wgpu: (f64, f64)) {
    println!("matmul {n}³  wgpu {kernel} kernel (GPU time) {:8.2} GFLOP/s", gflops(n, wgpu.0));
    println!("matmul {n}³  wgpu end to end (submit to done)    {:8.2} GFLOP/s", gflops(n, wgpu.1));
}

/// cuBLAS's line of an `n³` product that took it `s` seconds, with wgpu's share of its throughput.
fn print_cublas(n: usize, c: &Cublas, s: f64, wgpu: (f64, f64)) {
    println!(
        "matmul {n}³  cuBLAS strict fp32 (torch {} on {}, CUDA events) {:8.2} GFLOP/s; wgpu = {:.1}% of it by GPU time, {:.1}% end to end",
        c.torch,
        c.device,
        gflops(n, s),
        100.0 * s / wgpu.0,
        100.0 * s / wgpu.1
    );
}

/// The matmul lines past 1024³'s own: 4096³ and the cuBLAS comparison, as far as this run has them. Returns
/// whether PyTorch on CUDA answered (or why not), `None` in test mode where it is not asked.
fn bigger_matmuls(g: &Gpu, kernel: &str, n_times: (f64, f64), full: bool) -> Option<Result<(), String>> {
    let (sizes, big_skipped) = matmul_sizes(g, full);
    let mut times = vec![n_times];
    for &n in &sizes[1..] {
        times.push(wgpu_matmul(&Executor::new(g, &matmul_graph(n)).unwrap()));
    }
    if let Some(why) = big_skipped {
        println!("matmul {BIG}³  skipped: {why}");
    }
    let reference = full.then(|| cublas(&sizes));
    if let Some(Err(why)) = &reference {
        println!("matmul cuBLAS comparison skipped: {why}");
    }
    for (k, (&n, &t)) in sizes.iter().zip(&times).enumerate() {
        // 1024³'s wgpu lines come first, beside ndarray's.
        if k > 0 {
            print_wgpu(n, kernel, t);
        }
        if let Some(Ok(c)) = &reference {
            print_cublas(n, c, c.seconds[k], t);
        }
    }
    reference.map(|r| r.map(|_| ()))
}

/// The built-in workload at `WORKLOAD_BATCH`, full size.
fn workload() -> mmbench::error::Result<Workload> {
    load_workload(WORKLOAD, &WorkloadOptions { batch: Some(WORKLOAD_BATCH), ..Default::default() })
}

/// Median end-to-end seconds of 50 wgpu inferences after 5 untimed ones, with buffers reused as `mmbench
/// run` plans them.
fn wgpu_latency(g: &Gpu, w: &Workload) -> mmbench::error::Result<f64> {
    let exec = Executor::with_memory(g, w, Memory::Reuse)?;
    for _ in 0..5 {
        exec.iterate()?;
    }
    let walls = (0..50).map(|_| exec.iterate().map(|r| r.wall_s)).collect::<mmbench::error::Result<Vec<_>>>()?;
    Ok(Spread::of(&walls).median_s)
}

/// Median seconds of a PyTorch eager inference on CUDA in strict fp32, and the iterations timed. Timed for
/// at least `GPU_MIN_TIME_S`, as `mmbench run --backend torch` does: a millisecond inference timed a few
/// times is at the mercy of one slow iteration. No profiled iterations: only the latency is wanted.
fn torch_latency(w: &Workload) -> mmbench::error::Result<(f64, usize)> {
    let opts = TorchOptions {
        device: "cuda".into(),
        math: "fp32".into(),
        iters: 20,
        warmup: 5,
        profile_iters: 0,
        check: false,
        min_time_s: Some(runner::GPU_MIN_TIME_S),
        ..TorchOptions::default()
    };
    let m = runner::run(w, &opts)?;
    Ok((m.stats.wall.median_s, m.stats.iterations))
}

/// av-mnist end to end in wgpu beside PyTorch eager. `torch_ok` is what the cuBLAS comparison found: PyTorch
/// on CUDA, or why not (so that a machine without it does not pay for starting the runner only to learn it).
fn workload_comparison(g: &Gpu, torch_ok: Result<(), String>) {
    let label = format!("{WORKLOAD} batch {WORKLOAD_BATCH}");
    let w = match workload() {
        Ok(w) => w,
        Err(e) => return println!("{label}  skipped: {e}"),
    };
    let wgpu_s = match wgpu_latency(g, &w) {
        Ok(s) => s,
        Err(e) => return println!("{label}  wgpu failed: {e}"),
    };
    println!("{label}  wgpu end to end {:8.3} ms (median of 50)", wgpu_s * 1e3);
    match torch_ok.and_then(|()| torch_latency(&w).map_err(|e| e.to_string())) {
        Ok((torch_s, iters)) => println!(
            "{label}  PyTorch eager cuda strict fp32 {:8.3} ms (median of {iters}); wgpu takes {:.2}x its time",
            torch_s * 1e3,
            wgpu_s / torch_s
        ),
        Err(why) => println!("{label}  PyTorch comparison skipped: {why}"),
    }
}

fn summary() {
    let g = gpu();
    let full = full_run();
    let (a, b) = (random(0.37), random(0.11));
    let _ = a.dot(&b);
    let cpu_s = median(5, || {
        let t = Instant::now();
        std::hint::black_box(a.dot(&b));
        t.elapsed().as_secs_f64()
    });
    let exec = Executor::new(g, &matmul_graph(N)).unwrap();
    let (gpu_s, wall_s) = wgpu_matmul(&exec);
    let threads = std::env::var("MMTHREADS").ok().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).to_string());
    let kernel = if g.tiled_gemm { "workgroup-memory tiled" } else if g.subgroups { "subgroup" } else { "register-blocked" };
    println!("\n== summary: {} via {}, timing {} ==", g.name(), g.backend(), exec.timing().name());
    println!("matmul {N}³  ndarray sgemm (CPU, {threads} threads)   {:8.2} GFLOP/s", gflops(N, cpu_s));
    println!("matmul {N}³  wgpu {kernel} kernel (GPU time) {:8.2} GFLOP/s = {:.1}% of ndarray", gflops(N, gpu_s), 100.0 * cpu_s / gpu_s);
    println!("matmul {N}³  wgpu end to end (submit to done)    {:8.2} GFLOP/s", gflops(N, wall_s));
    // On a CPU adapter both sides run on the same cores: their CPU time is a comparison that other load on
    // the machine does not skew (wall-clock GFLOP/s above does).
    if let (Some(gpu_cpu), Some(cpu_cpu)) = (cpu_seconds(|| exec.run_once().unwrap()), cpu_seconds(|| drop(std::hint::black_box(a.dot(&b))))) {
        println!("matmul {N}³  process CPU seconds per product: wgpu {gpu_cpu:.3}, ndarray {cpu_cpu:.3} = {:.1}% (CPU adapters)", 100.0 * cpu_cpu / gpu_cpu);
    }
    drop(exec);
    let torch_cuda = bigger_matmuls(g, kernel, (gpu_s, wall_s), full);

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
    drop(chain);

    match torch_cuda {
        Some(torch_ok) => workload_comparison(g, torch_ok),
        None => println!("matmul {BIG}³, the cuBLAS and the {WORKLOAD} comparisons: skipped in test mode (they run under `cargo bench`)"),
    }
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
