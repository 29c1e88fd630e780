//! The command line: one subcommand per user task. Flags are parsed here; the work is done by the library.

pub mod calibrate;
pub mod characterize;
mod export;
mod info;
mod list;
mod predict;
mod sweep;
mod run;
mod validate;

use crate::error::Result;
use crate::report::Format;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Model, run and explain the performance of multi-modal DNNs.
#[derive(Debug, Parser)]
#[command(name = "mmbench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List built-in workloads, hardware presets and their runtimes.
    List(list::ListArgs),
    /// Show a workload's ops, parameters, FLOPs and memory per stage and modality.
    Info(info::InfoArgs),
    /// Predict the latency of one inference, with its stage breakdown and synchronization cost.
    Predict(predict::PredictArgs),
    /// Evaluate many configurations (workloads x hardware x parameter axes) into one CSV.
    Sweep(sweep::SweepArgs),
    /// The Pareto-optimal rows of a CSV over chosen objectives.
    Pareto(sweep::ParetoArgs),
    /// Characterize workloads on hardware: stages, synchronization, heterogeneity and memory, as a Markdown
    /// report, CSV files, SVG plots and Chrome traces.
    Characterize(characterize::CharacterizeArgs),
    /// Write a workload graph as versioned JSON (the PyTorch runner's input, or any other tool's).
    Export(export::ExportArgs),
    /// Run a workload for real on a GPU adapter (wgpu), with per-op GPU times; `--check` compares every op
    /// with a CPU reference.
    Run(run::RunArgs),
    /// Fit a hardware description of a wgpu adapter to microbenchmarks (never to the workloads).
    Calibrate(calibrate::CalibrateArgs),
    /// Predict and measure the same configurations; report per-configuration and per-stage errors and their
    /// statistics (MAPE, worst, bias, Spearman, 95 % CI), as a table, CSV or JSON, and a scatter plot.
    Validate(validate::ValidateArgs),
}

/// Options shared by commands that load a workload.
#[derive(Debug, Args, Clone)]
pub struct WorkloadArgs {
    /// A workload YAML file or a built-in name (see `mmbench list`).
    pub graph: String,
    /// Batch size (default: the workload's own).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Scale the workload's size parameters (images, sequences, volumes) by this factor: reduced sizes for
    /// quick runs (`--scale 0.25`).
    #[arg(long)]
    pub scale: Option<f64>,
}

impl WorkloadArgs {
    /// Loading options from these flags and the workload's `--set` overrides.
    pub fn options(&self, sets: Sets) -> crate::graph::WorkloadOptions {
        crate::graph::WorkloadOptions { batch: self.batch, sets, scale: self.scale }
    }
}

/// Output options shared by commands that print a result.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the result to this file instead of stdout (written whole or not at all).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How commands that run workloads on an adapter time them.
#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// Timed iterations.
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// Untimed iterations before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// The adapter to run on: a case-insensitive part of its name (default: the most capable one).
    #[arg(long)]
    pub adapter: Option<String>,
}

/// Which backend runs a workload, and where the PyTorch backend runs it.
#[derive(Debug, Args, Clone)]
pub struct DeviceArgs {
    /// `wgpu`: mmbench's own kernels on a GPU adapter; `torch`: PyTorch eager through the Python runner
    /// (`python/`), as the models' own code runs.
    #[arg(long, value_enum, default_value = "wgpu")]
    pub backend: crate::backend::Backend,
    /// PyTorch backend: the device (`cuda` or `cpu`).
    #[arg(long, default_value = "cuda", value_parser = ["cuda", "cpu"])]
    pub device: String,
    /// PyTorch backend: `fp32` (strict: no TF32 in cuBLAS or cuDNN), `default` (PyTorch's defaults: TF32
    /// convolutions, fp32 matmuls) or `tf32` (TF32 for both).
    #[arg(long, default_value = "fp32", value_parser = ["fp32", "default", "tf32"])]
    pub math: String,
    /// PyTorch backend: CPU threads for PyTorch (its default when absent).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The backend of `run` and `validate`, and the PyTorch backend's run options.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    #[command(flatten)]
    pub on: DeviceArgs,
    /// PyTorch backend: each modality's encoder on its own CUDA stream.
    #[arg(long)]
    pub streams: bool,
    /// PyTorch backend: iterations under torch.profiler (kernel counts and per-op shares).
    #[arg(long, default_value_t = 3)]
    pub profile_iters: usize,
}

impl BackendArgs {
    /// The PyTorch backend's options with these flags.
    pub fn torch_options(&self, exec: &ExecArgs, check: bool) -> crate::backend::torch::runner::TorchOptions {
        crate::backend::torch::runner::TorchOptions {
            device: self.on.device.clone(),
            math: self.on.math.clone(),
            iters: exec.iters,
            warmup: exec.warmup,
            profile_iters: self.profile_iters,
            check,
            streams: self.streams,
            threads: self.on.threads,
            // On a GPU a fast configuration is timed for a while; on a CPU (tests, mostly) the iterations asked.
            min_time_s: (self.on.device == "cuda").then_some(crate::backend::torch::runner::GPU_MIN_TIME_S),
            ..Default::default()
        }
    }
}

/// The Chrome trace option of commands that produce a trace.
#[derive(Debug, Args, Clone)]
pub struct TraceArgs {
    /// Also write the run's timeline as Chrome trace event JSON to FILE (open it in ui.perfetto.dev).
    #[arg(long = "trace", value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

impl TraceArgs {
    /// Writes the Chrome trace of `t` when `--trace` was given.
    pub fn write(&self, t: &crate::trace::Trace) -> Result<()> {
        match &self.trace {
            Some(path) => crate::report::write_atomic(path, crate::report::chrome::chrome_trace(t)?.as_bytes()),
            None => Ok(()),
        }
    }
}

pub use crate::whatif::{split_sets, Sets};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List(a) => list::run(a),
        Command::Info(a) => info::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Pareto(a) => sweep::pareto_run(a),
        Command::Characterize(a) => characterize::run(a),
        Command::Export(a) => export::run(a),
        Command::Run(a) => run::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Validate(a) => validate::run(a),
    }
}
