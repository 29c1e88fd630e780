//! `mmbench characterize`: predicts every workload on every hardware, computes the metrics of each trace
//! (`analysis`) and reports them (`report`): Markdown on stdout, or a folder of files with `--out`.

use super::split_sets;
use crate::error::{Error, Result};
use crate::graph::{load_workload, Workload, WorkloadOptions};
use crate::hardware::{load_hardware, Hardware, DEFAULT_HARDWARE};
use crate::predict::{predict, PredictOptions};
use crate::report::characterize::{characterize_files, Characterized};
use crate::report::{self, json, markdown, table};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CharacterizeArgs {
    /// Workload YAML files or built-in names (see `mmbench list`).
    #[arg(required = true, value_name = "GRAPH")]
    pub graphs: Vec<String>,
    /// Hardware YAML files or preset names; several values or repeated flags.
    #[arg(long, value_name = "HW", num_args = 1.., default_value = DEFAULT_HARDWARE)]
    pub hardware: Vec<String>,
    /// Runtime to assume on every hardware (default: each hardware's default, `eager`).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Batch size (default: each workload's own).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Scale the workloads' size parameters (see `predict --scale`).
    #[arg(long)]
    pub scale: Option<f64>,
    /// Override a workload or hardware field, as for `predict`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Write report.md, CSV files, SVG plots and Chrome traces into this folder (`characterize/` when no
    /// folder is named); each file is written whole or not at all. Without `--out`, print the report.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "characterize")]
    pub out: Option<PathBuf>,
    /// What to print when there is no `--out`.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: CharacterizeFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CharacterizeFormat {
    Markdown,
    Table,
    Json,
}

/// Predicts each workload on each hardware (workload-major order) and characterizes the traces.
pub fn characterize_predictions(workloads: &[Workload], hardware: &[Hardware], opts: &PredictOptions) -> Result<Vec<Characterized>> {
    let mut out = Vec::with_capacity(workloads.len() * hardware.len());
    for w in workloads {
        for hw in hardware {
            out.push(Characterized::new(predict(w, hw, opts)?, hw));
        }
    }
    Ok(out)
}

pub fn run(a: CharacterizeArgs) -> Result<()> {
    let (wl_sets, hw_sets) = split_sets(&a.sets)?;
    let workloads = a.graphs.iter().map(|g| load_workload(g, &WorkloadOptions { batch: a.batch, sets: wl_sets.clone(), scale: a.scale })).collect::<Result<Vec<_>>>()?;
    let hardware = a.hardware.iter().map(|h| load_hardware(h, &hw_sets)).collect::<Result<Vec<_>>>()?;
    let items = characterize_predictions(&workloads, &hardware, &PredictOptions { runtime: a.runtime.clone(), ..Default::default() })?;
    let Some(dir) = a.out else {
        let metrics: Vec<_> = items.iter().map(|i| &i.metrics).collect();
        let text = match a.format {
            CharacterizeFormat::Markdown => markdown::characterize_markdown(&metrics, None),
            CharacterizeFormat::Table => table::characterize_table(&metrics),
            CharacterizeFormat::Json => json::to_json(&metrics)?,
        };
        return report::emit(&text, None);
    };
    let files = characterize_files(&items)?;
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write { path: dir.clone(), source })?;
    for f in &files {
        report::write_atomic(&dir.join(&f.name), &f.contents)?;
    }
    eprintln!("wrote {} files to {} (start with report.md)", files.len(), dir.display());
    Ok(())
}
