//! `mmbench validate`: predicts and measures the same configurations and reports how wrong the predictions are.

use super::{BackendArgs, ExecArgs, OutputArgs};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::graph::{load_workload, Workload, WorkloadOptions};
use crate::hardware::load_hardware;
use crate::predict::{predict, PredictOptions};
use crate::report::{self, write_atomic, Format};
use crate::validate::compare::{compare, csv, scatter, summarize, table, Comparison, MeasuredRun, Statistic};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workload YAML files or built-in names.
    #[arg(required = true)]
    pub graphs: Vec<String>,
    /// The hardware to predict on: a calibrated description of the adapter that runs (`mmbench calibrate`).
    #[arg(long)]
    pub hardware: String,
    /// Runtime of the prediction (default: the hardware's own; `wgpu` in a calibrated description).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Batch sizes to validate (default: each workload's own). Repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub batch: Vec<usize>,
    /// Scale the workloads' size parameters, as `run --scale`.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Saved `mmbench run --format json` results to use instead of running those configurations. Several of
    /// one configuration count as one: the fastest (at --statistic).
    #[arg(long, value_delimiter = ',')]
    pub measured: Vec<String>,
    /// Compare only the configurations that have a saved run (`--measured`); the others are left out, not run
    /// (a campaign's saved runs read back without the device).
    #[arg(long, requires = "measured")]
    pub measured_only: bool,
    /// Times to run each configuration that has no saved run, in rounds over all of them; each keeps its
    /// fastest pass (at --statistic).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub passes: u32,
    /// Save each run made here as `run --format json` output in this directory (reusable with --measured),
    /// as `WORKLOAD-bBATCH.json`, or `WORKLOAD-bBATCH-passP.json` with several passes. A configuration given
    /// by --measured files is saved as the file it was compared with (the fastest of its files), as
    /// `WORKLOAD-bBATCH.json`: the runs a campaign's table rests on, without the slower passes.
    #[arg(long, value_name = "DIR")]
    pub save_runs: Option<PathBuf>,
    /// Also write the predicted-against-measured scatter plot (SVG) here.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Which iteration of each measured run to compare with: `fastest` (the least disturbed by other work on
    /// the machine) or `median`.
    #[arg(long, value_enum, default_value = "fastest")]
    pub statistic: Statistic,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Serialize)]
struct ValidateReport<'a> {
    hardware: &'a str,
    runtime: &'a str,
    rows: &'a [Comparison],
    summary: crate::validate::compare::Summary,
}

#[allow(clippy::result_large_err)] // the crate-wide error type, as every subcommand
pub fn run(a: ValidateArgs) -> Result<()> {
    let hw = load_hardware(&a.hardware, &[])?;
    let runtime = match &a.runtime {
        Some(r) => hw.runtime(r)?.name.clone(),
        None => hw.runtimes[hw.default_runtime].name.clone(),
    };
    let mut saved: Vec<(String, MeasuredRun, bool)> =
        a.measured.iter().map(|p| MeasuredRun::read(p).and_then(|m| m.at(a.statistic, p)).map(|m| (p.clone(), m, false))).collect::<Result<_>>()?;
    // Every configuration first, so that a bad workload name fails before anything runs.
    let mut configs: Vec<Workload> = Vec::new();
    for g in &a.graphs {
        let batches: Vec<Option<usize>> = if a.batch.is_empty() { vec![None] } else { a.batch.iter().map(|&b| Some(b)).collect() };
        for b in batches {
            configs.push(load_workload(g, &WorkloadOptions { batch: b, sets: Default::default(), scale: a.scale })?);
        }
    }
    // Saved runs are matched to configurations first: one that matches none is an error before anything runs.
    // Several runs of one configuration (passes of a campaign, minutes apart) count as one: the fastest at
    // `--statistic`, the least disturbed by other work on the machine.
    let matched: Vec<Option<usize>> = configs
        .iter()
        .map(|w| {
            let mut best: Option<usize> = None;
            for i in 0..saved.len() {
                let m = &saved[i].1;
                if m.workload == w.name && m.batch == w.batch && m.flops == w.flops() {
                    saved[i].2 = true;
                    if best.is_none_or(|b| saved[i].1.latency_ms < saved[b].1.latency_ms) {
                        best = Some(i);
                    }
                }
            }
            best
        })
        .collect();
    let unused: Vec<&str> = saved.iter().filter(|(_, _, used)| !used).map(|(p, _, _)| p.as_str()).collect();
    if !unused.is_empty() {
        return Err(Error::input(
            Default::default(),
            format!("measured files match no requested configuration (workload, batch and scale): {}", unused.join(", ")),
        ));
    }
    if let Some(dir) = &a.save_runs {
        for (w, i) in configs.iter().zip(&matched) {
            if let Some(i) = i {
                save_copy(&saved[*i].0, dir, w)?;
            }
        }
    }
    // Configurations without a saved run are run here, in `--passes` rounds over all of them (so that each
    // configuration's passes lie minutes apart), each keeping its fastest pass.
    let mut runner = Runner::new(&a);
    let mut measured: Vec<Option<MeasuredRun>> = matched.iter().map(|m| m.map(|i| saved[i].1.clone())).collect();
    let todo: Vec<usize> = (0..configs.len()).filter(|&k| matched[k].is_none() && !a.measured_only).collect();
    let todo_configs: Vec<&Workload> = todo.iter().map(|&k| &configs[k]).collect();
    for pass in 1..=a.passes {
        let runs = runner.measure_all(&todo_configs, (a.passes > 1).then_some(pass))?;
        for (&k, run) in todo.iter().zip(runs) {
            let w = &configs[k];
            match run {
                Ok(run) => {
                    if measured[k].as_ref().is_none_or(|b| run.latency_ms < b.latency_ms) {
                        measured[k] = Some(run);
                    }
                }
                // A configuration PyTorch cannot run (more memory than the device has) is left out, and said.
                Err(e) => eprintln!("skipped {} at batch {}: {e}", w.name, w.batch),
            }
        }
    }
    // Runs on another machine than the description's, or on this one at another speed, are said (once per
    // difference, with how many runs it concerns).
    let mut warned: Vec<(String, usize)> = Vec::new();
    for m in measured.iter().flatten() {
        for w in m.machine.as_ref().map(|here| crate::hardware::machine::warnings(&a.hardware, hw.machine.as_ref(), here)).unwrap_or_default() {
            match warned.iter_mut().find(|(x, _)| *x == w) {
                Some((_, n)) => *n += 1,
                None => warned.push((w, 1)),
            }
        }
    }
    for (w, n) in &warned {
        eprintln!("warning: {w} ({n} of the runs)");
    }
    let opts = PredictOptions { runtime: Some(runtime.clone()), ..Default::default() };
    let mut rows = Vec::with_capacity(configs.len());
    for (w, m) in configs.iter().zip(measured) {
        let Some(m) = m else { continue };
        let predicted = predict(&w.unpinned(), &hw, &opts)?;
        rows.push(compare(&predicted, &m)?);
    }
    if rows.is_empty() {
        return Err(Error::Unsupported("no configuration could be measured".into()));
    }
    let summary = summarize(&rows);
    if let Some(path) = &a.plot {
        let title = format!("{} on {} ({runtime})", if configs.len() == 1 { configs[0].name.as_str() } else { "workloads" }, hw.name);
        write_atomic(path, scatter(&rows, &title)?.as_bytes())?;
    }
    let text = match a.output.format {
        Format::Table => table(&rows, &summary, &hw.name, &runtime),
        Format::Csv => csv(&rows)?,
        Format::Json => report::json::to_json(&ValidateReport { hardware: &hw.name, runtime: &runtime, rows: &rows, summary })?,
    };
    report::emit(&text, a.output.out.as_deref())
}

/// Seconds of timed iterations after which a PyTorch campaign stops timing a configuration (after three).
const CAMPAIGN_BUDGET_S: f64 = 3.0;

/// Copies the saved run `from` of configuration `w` into `dir` as `WORKLOAD-bBATCH.json` (whole or not at all).
#[allow(clippy::result_large_err)]
fn save_copy(from: &str, dir: &std::path::Path, w: &Workload) -> Result<()> {
    let to = dir.join(format!("{}-b{}.json", w.name, w.batch));
    if std::fs::canonicalize(from).ok() == std::fs::canonicalize(&to).ok() {
        return Ok(());
    }
    let text = crate::input::read_bytes(std::path::Path::new(from))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::input(crate::error::Location::file(dir.display().to_string()), format!("cannot create: {e}")))?;
    write_atomic(&to, &text)
}

/// Runs configurations on the backend (a wgpu adapter, opened on first use; a fully `--measured` validation
/// needs none).
struct Runner<'a> {
    args: &'a ValidateArgs,
    #[cfg(feature = "gpu")]
    gpu: Option<crate::exec::context::Gpu>,
    /// Whether a run here has timed the quick probe.
    #[cfg(feature = "gpu")]
    probed: bool,
}

impl<'a> Runner<'a> {
    fn new(args: &'a ValidateArgs) -> Self {
        Runner {
            args,
            #[cfg(feature = "gpu")]
            gpu: None,
            #[cfg(feature = "gpu")]
            probed: false,
        }
    }

    /// Every configuration once: on wgpu one after another (an error ends the validation); in PyTorch in one
    /// runner process, where a configuration that fails (out of device memory) gets its error and the others
    /// go on.
    fn measure_all(&mut self, ws: &[&Workload], pass: Option<u32>) -> Result<Vec<Result<MeasuredRun>>> {
        if ws.is_empty() {
            return Ok(vec![]);
        }
        match self.args.backend.on.backend {
            Backend::Wgpu => ws.iter().map(|w| self.run_wgpu(w).and_then(|m| self.keep(w, m, pass)).map(Ok)).collect(),
            Backend::Torch => {
                let mut opts = self.args.backend.torch_options(&self.args.exec, false);
                // A campaign times each configuration for a few seconds at most (sarcasm's CPU audio features
                // take seconds per inference at batch 32).
                opts.budget_s = Some(CAMPAIGN_BUDGET_S);
                let bar = crate::report::progress_bar(ws.len() as u64);
                let runs = crate::backend::torch::runner::run_many(ws, &opts, |label| {
                    bar.set_message(label.to_string());
                    bar.inc(1);
                })?;
                bar.finish_and_clear();
                Ok(ws.iter().zip(runs).map(|(w, m)| m.and_then(|m| self.keep(w, m, pass))).collect())
            }
        }
    }

    /// Saves a run (with `--save-runs`) and returns its times at `--statistic`.
    fn keep(&self, w: &Workload, m: crate::exec::Measured, pass: Option<u32>) -> Result<MeasuredRun> {
        use crate::exec::report::RunReport;
        if let Some(dir) = &self.args.save_runs {
            std::fs::create_dir_all(dir).map_err(|e| Error::input(crate::error::Location::file(dir.display().to_string()), format!("cannot create: {e}")))?;
            let pass = pass.map_or(String::new(), |p| format!("-pass{p}"));
            let path = dir.join(format!("{}-b{}{pass}.json", w.name, w.batch));
            write_atomic(&path, report::json::to_json(&RunReport::new(&m))?.as_bytes())?;
        }
        let trace = match self.args.statistic {
            Statistic::Fastest => &m.fastest,
            Statistic::Median => &m.trace,
        };
        let torch = m.stats.torch.as_ref().map(|t| crate::validate::compare::MeasuredKernels { kernels: t.kernels, streams: t.streams, issue_ms: t.issue_ms });
        Ok(MeasuredRun { torch, machine: m.stats.machine.clone(), ..MeasuredRun::from_trace(trace, &m.stats.adapter) })
    }

    #[cfg(feature = "gpu")]
    fn run_wgpu(&mut self, w: &Workload) -> Result<crate::exec::Measured> {
        if self.gpu.is_none() {
            self.gpu = Some(crate::exec::context::Gpu::new(self.args.exec.adapter.as_deref())?);
        }
        let gpu = self.gpu.as_ref().expect("opened above");
        // The machine's quick probe once, with the first configuration; the others record the machine only.
        let opts = crate::exec::RunOptions { iters: self.args.exec.iters, warmup: self.args.exec.warmup, adapter: None, probe: !self.probed, ..Default::default() };
        self.probed = true;
        crate::exec::run_on(gpu, w, &opts)
    }

    #[cfg(not(feature = "gpu"))]
    fn run_wgpu(&mut self, w: &Workload) -> Result<crate::exec::Measured> {
        Err(Error::Unsupported(format!("no measured run of `{}` at batch {} was given, and {}", w.name, w.batch, crate::exec::NO_GPU_BACKEND)))
    }
}
