//! `mmbench validate`: predicts and measures the same configurations and reports how wrong the predictions are.

use super::{ExecArgs, OutputArgs};
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
    // Configurations without a saved run are run here, in `--passes` rounds over all of them (so that each
    // configuration's passes lie minutes apart), each keeping its fastest pass.
    if let Some(dir) = &a.save_runs {
        for (w, i) in configs.iter().zip(&matched) {
            if let Some(i) = i {
                save_copy(&saved[*i].0, dir, w)?;
            }
        }
    }
    let mut runner = Runner::new(&a);
    let mut measured: Vec<Option<MeasuredRun>> = matched.iter().map(|m| m.map(|i| saved[i].1.clone())).collect();
    for pass in 1..=a.passes {
        for ((w, m), best) in configs.iter().zip(&matched).zip(&mut measured) {
            if m.is_some() {
                continue;
            }
            let run = runner.measure(w, (a.passes > 1).then_some(pass))?;
            if best.as_ref().is_none_or(|b| run.latency_ms < b.latency_ms) {
                *best = Some(run);
            }
        }
    }
    let opts = PredictOptions { runtime: Some(runtime.clone()), ..Default::default() };
    let mut rows = Vec::with_capacity(configs.len());
    for (w, m) in configs.iter().zip(measured) {
        let predicted = predict(&w.unpinned(), &hw, &opts)?;
        rows.push(compare(&predicted, &m.expect("every configuration measured or saved"))?);
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

/// Copies the saved run `from` of configuration `w` into `dir` as `WORKLOAD-bBATCH.json` (whole or not at all).
#[allow(clippy::result_large_err)]
fn save_copy(from: &str, dir: &std::path::Path, w: &Workload) -> Result<()> {
    let to = dir.join(format!("{}-b{}.json", w.name, w.batch));
    if std::fs::canonicalize(from).ok() == std::fs::canonicalize(&to).ok() {
        return Ok(());
    }
    let text = std::fs::read(from).map_err(|e| Error::input(crate::error::Location::file(from), format!("cannot read the measured run: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::input(crate::error::Location::file(dir.display().to_string()), format!("cannot create: {e}")))?;
    write_atomic(&to, &text)
}

/// Runs configurations on the adapter, opened on first use (a fully `--measured` validation needs none).
struct Runner<'a> {
    args: &'a ValidateArgs,
    #[cfg(feature = "gpu")]
    gpu: Option<crate::exec::context::Gpu>,
}

impl<'a> Runner<'a> {
    fn new(args: &'a ValidateArgs) -> Self {
        Runner {
            args,
            #[cfg(feature = "gpu")]
            gpu: None,
        }
    }

    #[cfg(feature = "gpu")]
    fn measure(&mut self, w: &Workload, pass: Option<u32>) -> Result<MeasuredRun> {
        if self.gpu.is_none() {
            self.gpu = Some(crate::exec::context::Gpu::new(self.args.exec.adapter.as_deref())?);
        }
        use crate::exec::report::RunReport;
        use crate::exec::RunOptions;
        let gpu = self.gpu.as_ref().expect("opened above");
        let opts = RunOptions { iters: self.args.exec.iters, warmup: self.args.exec.warmup, adapter: None, ..RunOptions::default() };
        let m = crate::exec::run_on(gpu, w, &opts)?;
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
        Ok(MeasuredRun::from_trace(trace, gpu.name()))
    }

    #[cfg(not(feature = "gpu"))]
    fn measure(&mut self, w: &Workload, _pass: Option<u32>) -> Result<MeasuredRun> {
        let _ = self.args;
        Err(Error::Unsupported(format!("no measured run of `{}` at batch {} was given, and {}", w.name, w.batch, crate::exec::NO_GPU_BACKEND)))
    }
}
