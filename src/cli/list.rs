//! `mmbench list`.

use crate::error::Result;
use crate::graph::{builtin, load_workload, WorkloadOptions};
use crate::hardware::{load_hardware, preset_names};
use clap::Args;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct ListArgs {}

pub fn run(_: ListArgs) -> Result<()> {
    let mut s = String::new();
    let width = builtin::workload_names().chain(preset_names()).map(str::len).max().unwrap_or(0);
    let _ = writeln!(s, "workloads (mmbench predict <name>):");
    for name in builtin::workload_names() {
        let w = load_workload(name, &WorkloadOptions::default())?;
        let _ = writeln!(s, "  {name:<width$}  {}", w.description);
        let _ = writeln!(s, "  {:<width$}  modalities: {}; batch {}", "", w.modalities.join(", "), w.batch);
    }
    let _ = writeln!(s, "\nhardware (--hardware <name>):");
    for name in preset_names() {
        let hw = load_hardware(name, &[])?;
        let devices: Vec<String> = hw.devices.iter().map(|d| format!("{} ({:?})", d.name, d.kind).to_lowercase()).collect();
        let runtimes: Vec<&str> = hw.runtimes.iter().map(|r| r.name.as_str()).collect();
        let _ = writeln!(s, "  {name:<width$}  {}", hw.description);
        let _ = writeln!(s, "  {:<width$}  devices: {}; runtimes: {} (default {})", "", devices.join(", "), runtimes.join(", "), hw.runtimes[hw.default_runtime].name);
    }
    crate::report::emit(&s, None)
}
