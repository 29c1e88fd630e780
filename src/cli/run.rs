//! `mmbench run`: executes a workload for real, on a GPU adapter through wgpu or in PyTorch eager through the
//! Python runner, and reports measured times.

use super::{split_sets, BackendArgs, ExecArgs, OutputArgs, TraceArgs, WorkloadArgs};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::exec::report::{run_csv, run_table, RunReport};
use crate::exec::{self, RunOptions};
use crate::graph::load_workload;
use crate::report::{self, Format};
use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Compare every op's output with the CPU reference (relative L2 error, unwritten elements).
    #[arg(long)]
    pub check: bool,
    /// Override a workload field (`batch=8`, `variant=NAME`, `params.steps=20`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// A calibrated hardware description (file or preset) to check this machine against: warns where the
    /// machine it was calibrated on differs from this one, or where the quick probe is off by more than 20 %.
    #[arg(long)]
    pub hardware: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[allow(clippy::result_large_err)] // the crate-wide error type, as every subcommand
pub fn run(a: RunArgs) -> Result<()> {
    let (wl_sets, hw_sets) = split_sets(&a.sets)?;
    if let Some((key, _)) = hw_sets.first() {
        return Err(Error::input(Default::default(), format!("`--set {key}=…`: `run` measures a real adapter, so it takes workload fields only")));
    }
    let w = load_workload(&a.workload.graph, &a.workload.options(wl_sets))?;
    // The description first, so that a bad name fails before the run.
    let calibrated = a.hardware.as_deref().map(|h| crate::hardware::load_hardware(h, &[])).transpose()?;
    let measured = match a.backend.on.backend {
        Backend::Wgpu => {
            let opts = RunOptions { iters: a.exec.iters, warmup: a.exec.warmup, adapter: a.exec.adapter.clone(), check: a.check, ..RunOptions::default() };
            exec::run(&w, &opts)?
        }
        Backend::Torch => crate::backend::torch::runner::run(&w, &a.backend.torch_options(&a.exec, a.check))?,
    };
    if let (Some(hw), Some(here)) = (&calibrated, &measured.stats.machine) {
        let description = a.hardware.as_deref().unwrap_or_default();
        match &hw.machine {
            Some(cal) => crate::hardware::machine::warnings(description, Some(cal), here).iter().for_each(|w| eprintln!("warning: {w}")),
            None => eprintln!("warning: `{description}` records no machine (it was not written by `mmbench calibrate`): nothing to check"),
        }
    }
    a.trace.write(&measured.trace)?;
    let r = RunReport::new(&measured);
    let text = match a.output.format {
        Format::Table => run_table(&r),
        Format::Json => report::json::to_json(&r)?,
        Format::Csv => run_csv(&r)?,
    };
    report::emit(&text, a.output.out.as_deref())?;
    match &r.check {
        Some(c) if c.failures().next().is_some() => {
            Err(Error::Unsupported(format!("{} ops differ from the CPU reference by more than {:.0e}", c.failures().count(), c.tolerance)))
        }
        _ => Ok(()),
    }
}
