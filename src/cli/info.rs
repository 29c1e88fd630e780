//! `mmbench info`.

use super::WorkloadArgs;
use crate::error::Result;
use crate::graph::load_workload;
use crate::report::{self, bytes_text, flops_text, thousands};
use clap::Args;
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Override a workload field (`batch=8`, `variant=NAME`, `params.steps=20`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value = "table")]
    pub format: InfoFormat,
    /// Write the result to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InfoFormat {
    Table,
    Json,
}

#[derive(Serialize)]
struct StageInfo {
    stage: &'static str,
    modality: Option<String>,
    params: u64,
    flops: u64,
    ops: usize,
    kernels: u64,
    /// Bytes read and written by the stage's ops (ideal-cache traffic).
    bytes: u64,
}

#[derive(Serialize)]
struct InfoReport {
    workload: String,
    description: String,
    batch: usize,
    modalities: Vec<String>,
    params: u64,
    unregistered_params: u64,
    flops: u64,
    ops: usize,
    kernels: u64,
    joins: Vec<String>,
    /// Largest set of live activations in program order, bytes.
    peak_activation_bytes: u64,
    /// Parameters (registered and not) as fp32 bytes.
    param_bytes: u64,
    /// Parameters plus peak activations.
    peak_memory_bytes: u64,
    outputs: Vec<OutputInfo>,
    stages: Vec<StageInfo>,
}

#[derive(Serialize)]
struct OutputInfo {
    name: String,
    shape: Vec<usize>,
}

pub fn run(a: InfoArgs) -> Result<()> {
    let (wl_sets, _) = super::split_sets(&a.sets)?;
    let w = load_workload(&a.workload.graph, &a.workload.options(wl_sets))?;
    let param_bytes = 4 * (w.params() + w.unregistered_params());
    let act = w.peak_activation_bytes();
    let r = InfoReport {
        workload: w.name.clone(),
        description: w.description.clone(),
        batch: w.batch,
        modalities: w.modalities.clone(),
        params: w.params(),
        unregistered_params: w.unregistered_params(),
        flops: w.flops(),
        ops: w.compute_ops(),
        kernels: w.kernels(),
        joins: w.joins().into_iter().map(|j| w.graph[j].name.clone()).collect(),
        peak_activation_bytes: act,
        param_bytes,
        peak_memory_bytes: act + param_bytes,
        outputs: w.outputs.iter().map(|&o| OutputInfo { name: w.graph[o].name.clone(), shape: w.graph[o].output.shape.clone() }).collect(),
        stages: w
            .stage_totals()
            .into_iter()
            .map(|t| StageInfo {
                stage: t.stage.map_or("?", |s| s.name()),
                modality: t.modality,
                params: t.params,
                flops: t.flops,
                ops: t.ops,
                kernels: t.kernels,
                bytes: t.bytes,
            })
            .collect(),
    };
    let text = match a.format {
        InfoFormat::Json => report::json::to_json(&r)?,
        InfoFormat::Table => {
            let mut s = String::new();
            let _ = writeln!(s, "{} — {} (batch {})", r.workload, r.description, r.batch);
            let _ = writeln!(s, "modalities     {}", r.modalities.join(", "));
            let mut params = thousands(r.params);
            if r.unregistered_params > 0 {
                params.push_str(&format!(" (+{} unregistered)", thousands(r.unregistered_params)));
            }
            let _ = writeln!(s, "parameters     {params}");
            let _ = writeln!(s, "work           {}, {} ops, {} kernel launches", flops_text(r.flops), r.ops, r.kernels);
            let _ = writeln!(s, "memory         {} parameters + {} peak activations = {}", bytes_text(r.param_bytes), bytes_text(act), bytes_text(r.peak_memory_bytes));
            let _ = writeln!(s, "fusion joins   {}", if r.joins.is_empty() { "none".to_string() } else { r.joins.join(", ") });
            for o in &r.outputs {
                let _ = writeln!(s, "output         {} {:?}", o.name, o.shape);
            }
            let _ = writeln!(s);
            let _ = writeln!(s, "{:<9} {:<14} {:>14} {:>14} {:>6} {:>8} {:>12}", "stage", "modality", "params", "FLOPs", "ops", "kernels", "traffic");
            for t in &r.stages {
                let _ = writeln!(
                    s,
                    "{:<9} {:<14} {:>14} {:>14} {:>6} {:>8} {:>12}",
                    t.stage,
                    t.modality.as_deref().unwrap_or("-"),
                    thousands(t.params),
                    flops_text(t.flops),
                    t.ops,
                    t.kernels,
                    bytes_text(t.bytes)
                );
            }
            s
        }
    };
    report::emit(&text, a.out.as_deref())
}
