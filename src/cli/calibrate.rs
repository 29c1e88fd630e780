//! `mmbench calibrate`: microbenchmarks on a wgpu adapter or in PyTorch, fitted into a hardware description.

use crate::calibrate::derive::{derive, to_yaml, Calibration, KindFit, Measurements};
use crate::error::{Error, Location, Result};
use crate::report::{self, write_atomic};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The backend (`--backend torch`: PyTorch eager, whose description then carries an `eager` runtime with
    /// the measured framework overheads) and where it runs.
    #[command(flatten)]
    pub on: super::DeviceArgs,
    /// The adapter to calibrate: a case-insensitive part of its name (default: the most capable one).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Write the fitted hardware description here (default: stdout; the report then goes to stderr).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A few sizes per op kind instead of the full range, timed in one pass over the suite (about a tenth of
    /// the time).
    #[arg(long)]
    pub quick: bool,
    /// Passes over the suite; each microbenchmark keeps its fastest time over all of them (default: 3, or 1
    /// with --quick). On a shared machine passes minutes apart let each find a quiet moment.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub passes: Option<u32>,
    /// Also save the raw measurements as JSON, to refit later with `--from-raw`.
    #[arg(long, value_name = "FILE")]
    pub raw: Option<PathBuf>,
    /// Fit saved measurements instead of measuring (no adapter needed). Several files (comma-separated or
    /// repeated) of the same adapter are merged as passes of one calibration: each timing keeps its fastest.
    #[arg(long, value_name = "FILE", value_delimiter = ',', conflicts_with_all = ["adapter", "quick", "passes"])]
    pub from_raw: Vec<PathBuf>,
}

#[allow(clippy::result_large_err)] // the crate-wide error type, as every subcommand
pub fn run(a: CalibrateArgs) -> Result<()> {
    let m = match a.from_raw.split_first() {
        // Saved times, with each op's cost as this version's cost model counts it.
        Some((first, rest)) => {
            let mut m = read_raw(first)?;
            for path in rest {
                m.merge(&read_raw(path)?).map_err(|e| Error::input(Location::file(path.display().to_string()), format!("cannot merge with {}: {e}", first.display())))?;
            }
            let suite = if m.eager.is_some() { crate::calibrate::suite::gpu_suite } else { crate::calibrate::suite::suite };
            m.recost(&suite(crate::calibrate::suite::Depth::Full)?);
            m
        }
        None => match a.on.backend {
            crate::backend::Backend::Wgpu => measure(&a)?,
            crate::backend::Backend::Torch => measure_torch(&a)?,
        },
    };
    if let Some(path) = &a.raw {
        write_atomic(path, serde_json::to_string_pretty(&m).expect("measurements serialize").as_bytes())?;
    }
    let c = derive(&m).map_err(|e| Error::Unsupported(format!("cannot fit the measurements of `{}`: {e}", m.adapter)))?;
    let mut command = if !a.from_raw.is_empty() {
        "mmbench calibrate --from-raw".to_string()
    } else if a.quick {
        "mmbench calibrate --quick".to_string()
    } else {
        "mmbench calibrate".to_string()
    };
    if a.from_raw.is_empty() && a.on.backend == crate::backend::Backend::Torch {
        command += &format!(" --backend torch --device {} --math {}", a.on.device, a.on.math);
    }
    let yaml = to_yaml(&c, &m, &command);
    let text = report_table(&c, &m);
    match &a.out {
        Some(path) => {
            write_atomic(path, yaml.as_bytes())?;
            report::emit(&format!("{text}\nwrote {}\n", path.display()), None)
        }
        None => {
            eprint!("{text}");
            report::emit(&yaml, None)
        }
    }
}

fn read_raw(path: &PathBuf) -> Result<Measurements> {
    let at = || Location::file(path.display().to_string());
    let text = crate::input::read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        let loc = Location { line: Some(e.line()), column: Some(e.column()), ..at() };
        Error::input(loc, format!("not a measurements file of `mmbench calibrate --raw`: {e}"))
    })
}

#[cfg(feature = "gpu")]
fn measure(a: &CalibrateArgs) -> Result<Measurements> {
    use crate::calibrate::measure::{measure, Effort};
    use crate::calibrate::suite::{suite, Depth};
    let gpu = crate::exec::context::Gpu::new(a.adapter.as_deref())?;
    let benches = suite(if a.quick { Depth::Quick } else { Depth::Full })?;
    // The microbenchmarks and the dispatch chain (in several passes), then two probes: read-back, host work.
    let passes = a.passes.map_or(if a.quick { 1 } else { Effort::default().rounds }, |p| p as usize);
    let effort = Effort { rounds: passes, ..Effort::default() };
    with_progress(((benches.len() + 1) * effort.rounds) as u64 + 2, |step| measure(&gpu, &benches, effort, step))
}

/// Runs a measurement with a progress bar over `steps` steps, then says which microbenchmarks were skipped.
fn with_progress(steps: u64, measure: impl FnOnce(&mut dyn FnMut(&str)) -> Result<(Measurements, Vec<crate::calibrate::Skipped>)>) -> Result<Measurements> {
    let bar = crate::report::progress_bar(steps);
    let (m, skipped) = measure(&mut |label: &str| {
        bar.set_message(label.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    for s in &skipped {
        eprintln!("skipped `{}`: {}", s.label, s.reason);
    }
    Ok(m)
}

/// The suite in PyTorch, with the eager probes.
fn measure_torch(a: &CalibrateArgs) -> Result<Measurements> {
    use crate::backend::torch::calibrate::{measure, TorchCalibrateOptions};
    use crate::calibrate::suite::{gpu_suite, Depth};
    let benches = gpu_suite(if a.quick { Depth::Quick } else { Depth::Full })?;
    let passes = a.passes.map_or(if a.quick { 1 } else { 3 }, |p| p as usize);
    let opts = TorchCalibrateOptions { device: a.on.device.clone(), math: a.on.math.clone(), passes, iters: if a.quick { 5 } else { 10 }, threads: a.on.threads };
    // Every microbenchmark in each pass, then four probes.
    with_progress((benches.len() * passes) as u64 + 4, |step| measure(&benches, &opts, step))
}

#[cfg(not(feature = "gpu"))]
fn measure(_: &CalibrateArgs) -> Result<Measurements> {
    Err(Error::Unsupported(crate::exec::NO_GPU_BACKEND.into()))
}

/// Per op kind: what the fit says the kind reaches, and how well the fit reproduces its microbenchmarks.
fn report_table(c: &Calibration, m: &Measurements) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "calibrated {} ({}) on {}", m.adapter, m.backend, m.date);
    let _ = writeln!(
        s,
        "  peaks {:.2} GFLOP/s, {:.2} GB/s; {:.1} us per kernel (+{:.1} us gap), {:.1} us per submission (+{:.1} us per kernel)",
        c.gpu.peak_flops("fp32") / 1e9,
        c.gpu.mem_bw_gbs,
        m.dispatch_s * 1e6,
        m.gap_s * 1e6,
        c.runtime.sync_overhead_us,
        c.runtime.submit_per_kernel_us
    );
    let _ = writeln!(s, "  read-back {:.1} us + {:.2} GB/s; host core {:.2} GFLOP/s, {:.2} GB/s\n", c.link.latency_us, c.link.bw_gbs, c.cpu.peak_flops("fp32") / 1e9 / f64::from(c.cpu.compute_units), c.cpu.mem_bw_gbs);
    let _ = writeln!(s, "{:<20} {:>4} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9}", "op kind", "n", "extra us", "GFLOP/s", "GB/s", "k extra", "gather", "fit err", "worst");
    let row = |s: &mut String, f: &KindFit| {
        let [a, b, c, d, e, g] = f.coefficients;
        let rate = |x: f64| if x > 0.0 { format!("{:.2}", 1.0 / x / 1e9) } else { "-".into() };
        // Per-output and gather costs in FLOPs at the kind's own rate.
        let extra = |x: f64| if b > 0.0 && x > 0.0 { format!("{:.0}", x / b) } else { "-".into() };
        let _ = writeln!(s, "{:<20} {:>4} {:>10.1} {:>10} {:>10} {:>8} {:>8} {:>8.1}% {:>8.1}%", f.kind, f.samples, (a + d) * 1e6, rate(b), rate(c), extra(e), extra(g), f.fit_error * 100.0, f.worst_error * 100.0);
    };
    for f in &c.kinds {
        row(&mut s, f);
    }
    let _ = writeln!(s, "{:<20}", "classes (fallback)");
    for f in &c.classes {
        row(&mut s, f);
    }
    row(&mut s, &c.host);
    s
}
