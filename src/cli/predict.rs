//! `mmbench predict`.

use super::{split_sets, OutputArgs, TraceArgs, WorkloadArgs};
use crate::error::{Error, Result};
use crate::graph::load_workload;
use crate::hardware::{load_hardware, DEFAULT_HARDWARE};
use crate::predict::{predict, Placement, PredictOptions};
use crate::report::{self, Format, PredictReport};
use clap::Args;

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// A hardware YAML file or preset name.
    #[arg(long, default_value = DEFAULT_HARDWARE)]
    pub hardware: String,
    /// Runtime to assume (default: the hardware's default, `eager`: how MMBench measured).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Override a workload or hardware field: `gpu.mem_bw_gbs=6000`, `gpu.mem_bw_gbs=*2`, `batch=8`,
    /// `variant=NAME`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run a modality branch (or `fusion`, `head`) on a device: `audio=cpu`. Repeatable.
    #[arg(long = "place", value_name = "BRANCH=DEVICE")]
    pub place: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let (wl_sets, hw_sets) = split_sets(&a.sets)?;
    let w = load_workload(&a.workload.graph, &a.workload.options(wl_sets))?;
    let hw = load_hardware(&a.hardware, &hw_sets)?;
    let mut placement = Placement::default();
    for p in &a.place {
        placement.assignments.push(Placement::parse(p).map_err(|m| Error::input(Default::default(), m))?);
    }
    let trace = predict(&w, &hw, &PredictOptions { runtime: a.runtime.clone(), placement })?;
    a.trace.write(&trace)?;
    let r = PredictReport::new(&w, &hw, &trace);
    let text = match a.output.format {
        Format::Table => report::table::predict_table(&r),
        Format::Json => report::json::to_json(&r)?,
        Format::Csv => report::csv::predict_csv(&r)?,
    };
    report::emit(&text, a.output.out.as_deref())
}
