//! `mmbench export`: a workload graph as versioned JSON for another runtime (the PyTorch runner reads it).

use super::WorkloadArgs;
use crate::backend::torch::export::export;
use crate::error::{Error, Result};
use crate::graph::load_workload;
use crate::report;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Override a workload field (`batch=8`, `variant=NAME`, `params.steps=20`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Write the document to this file instead of stdout (written whole or not at all).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[allow(clippy::result_large_err)] // the crate-wide error type, as every subcommand
pub fn run(a: ExportArgs) -> Result<()> {
    let (wl_sets, hw_sets) = super::split_sets(&a.sets)?;
    if let Some((key, _)) = hw_sets.first() {
        return Err(Error::input(Default::default(), format!("`--set {key}=…`: `export` writes a workload, so it takes workload fields only")));
    }
    let w = load_workload(&a.workload.graph, &a.workload.options(wl_sets))?;
    let doc = export(&w)?;
    let text = serde_json::to_string(&doc).map_err(|e| Error::Unsupported(format!("JSON encoding failed: {e}")))?;
    report::emit(&(text + "\n"), a.out.as_deref())
}
