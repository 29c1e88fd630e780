//! The command line: one subcommand per user task. Flags are parsed here; the work is done by the library.

mod info;
mod list;
mod predict;
mod run;

use crate::error::{Error, Result};
use crate::report::Format;
use crate::yaml::{parse_set, SetOp};
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
    /// Run a workload for real on a GPU adapter (wgpu), with per-op GPU times; `--check` compares every op
    /// with a CPU reference.
    Run(run::RunArgs),
}

/// Options shared by commands that load a workload.
#[derive(Debug, Args, Clone)]
pub struct WorkloadArgs {
    /// A workload YAML file or a built-in name (see `mmbench list`).
    pub graph: String,
    /// Batch size (default: the workload's own).
    #[arg(long)]
    pub batch: Option<usize>,
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

/// Top-level workload keys: a `--set` starting with one of these changes the workload, anything else the
/// hardware. `workload.` and `hardware.` prefixes make the target explicit.
const WORKLOAD_KEYS: &[&str] = &["batch", "modalities", "fusion", "head", "nodes", "params", "variant", "outputs"];

/// Splits `--set` arguments into workload and hardware overrides.
pub fn split_sets(args: &[String]) -> Result<(Vec<(String, SetOp)>, Vec<(String, SetOp)>)> {
    let mut wl = Vec::new();
    let mut hw = Vec::new();
    for a in args {
        let (key, op) = parse_set(a).map_err(|m| Error::input(Default::default(), m))?;
        if let Some(k) = key.strip_prefix("workload.") {
            wl.push((k.to_string(), op));
        } else if let Some(k) = key.strip_prefix("hardware.") {
            hw.push((k.to_string(), op));
        } else {
            let first = key.split(['.', '[']).next().unwrap_or("");
            if WORKLOAD_KEYS.contains(&first) { wl.push((key, op)) } else { hw.push((key, op)) }
        }
    }
    Ok((wl, hw))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List(a) => list::run(a),
        Command::Info(a) => info::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Run(a) => run::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_routed_by_their_first_key() {
        let args: Vec<String> = ["batch=8", "gpu.mem_bw_gbs=*2", "workload.x=1", "hardware.batch=2", "fusion=lrtf"].iter().map(|s| s.to_string()).collect();
        let (wl, hw) = split_sets(&args).unwrap();
        let wl: Vec<&str> = wl.iter().map(|(k, _)| k.as_str()).collect();
        let hw: Vec<&str> = hw.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(wl, ["batch", "x", "fusion"]);
        assert_eq!(hw, ["gpu.mem_bw_gbs", "batch"]);
    }
}
