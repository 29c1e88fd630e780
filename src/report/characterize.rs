//! The files `mmbench characterize --out DIR` writes, built in memory so that the command writes each one
//! atomically and a benchmark can time the whole job without a disk: `report.md`, one CSV per metric family,
//! the whole characterization as JSON, SVG plots (stage bars, a roofline per hardware, a timeline per
//! configuration) and a Chrome trace per configuration.

use super::{chrome, csv, json, markdown, plots};
use crate::analysis::{characterize, Characterization};
use crate::error::Result;
use crate::hardware::Hardware;
use crate::trace::Trace;

/// A trace and its metrics.
#[derive(Debug, Clone)]
pub struct Characterized {
    pub trace: Trace,
    pub metrics: Characterization,
}

impl Characterized {
    /// Characterizes `trace`, predicted or measured, against the peaks of `hw`.
    pub fn new(trace: Trace, hw: &Hardware) -> Self {
        let metrics = characterize(&trace, hw);
        Characterized { trace, metrics }
    }
}

/// One output file: a name relative to the output folder and its contents.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    pub name: String,
    pub contents: Vec<u8>,
}

/// The names of the figures and traces, so that the report links them.
#[derive(Debug, Clone, PartialEq)]
pub struct FileNames {
    pub stage_bars: String,
    /// (hardware, file), in order of first appearance.
    pub rooflines: Vec<(String, String)>,
    /// Per configuration, in order.
    pub timelines: Vec<String>,
    pub traces: Vec<String>,
}

/// `jetson-agx-orin`, `my_graph.v2`: letters, digits, `.`, `_` and `-`; anything else becomes `-`.
fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect()
}

impl FileNames {
    pub fn for_items(items: &[&Characterization]) -> Self {
        let mut stems: Vec<String> = Vec::new();
        for c in items {
            let base = format!("{}-{}", slug(&c.workload), slug(&c.hardware));
            let mut stem = base.clone();
            let mut n = 2;
            while stems.contains(&stem) {
                stem = format!("{base}-{n}");
                n += 1;
            }
            stems.push(stem);
        }
        let mut rooflines: Vec<(String, String)> = Vec::new();
        for c in items {
            if !rooflines.iter().any(|(h, _)| *h == c.hardware) {
                rooflines.push((c.hardware.clone(), format!("roofline-{}.svg", slug(&c.hardware))));
            }
        }
        FileNames {
            stage_bars: "stages.svg".into(),
            rooflines,
            timelines: stems.iter().map(|s| format!("timeline-{s}.svg")).collect(),
            traces: stems.iter().map(|s| format!("trace-{s}.json")).collect(),
        }
    }
}

/// A CSV file of one metric family.
type CsvWriter = fn(&[&Characterization]) -> Result<String>;

/// Every file of a characterization run.
pub fn characterize_files(items: &[Characterized]) -> Result<Vec<OutputFile>> {
    let metrics: Vec<&Characterization> = items.iter().map(|i| &i.metrics).collect();
    let names = FileNames::for_items(&metrics);
    let mut files: Vec<OutputFile> = Vec::new();
    let mut add = |name: &str, contents: String| files.push(OutputFile { name: name.to_string(), contents: contents.into_bytes() });
    add("report.md", markdown::characterize_markdown(&metrics, Some(&names)));
    add("characterization.json", json::to_json(&metrics)?);
    let tables: [(&str, CsvWriter); 9] = [
        ("summary.csv", csv::summary_csv),
        ("stages.csv", csv::stages_csv),
        ("sync.csv", csv::sync_csv),
        ("op_types.csv", csv::op_types_csv),
        ("kernel_buckets.csv", csv::kernel_buckets_csv),
        ("kernels.csv", csv::kernels_csv),
        ("utilization.csv", csv::utilization_csv),
        ("roofline_ops.csv", csv::roofline_ops_csv),
        ("memory.csv", csv::memory_csv),
    ];
    for (name, f) in tables {
        add(name, f(&metrics)?);
    }
    add(&names.stage_bars, plots::stage_bars_svg(&metrics)?);
    for (hw, file) in &names.rooflines {
        let on_hw: Vec<&Characterization> = metrics.iter().copied().filter(|c| c.hardware == *hw).collect();
        add(file, plots::roofline_svg(hw, &on_hw)?);
    }
    for (i, item) in items.iter().enumerate() {
        add(&names.timelines[i], plots::timeline_svg(&item.trace, &item.metrics.sync)?);
        add(&names.traces[i], chrome::chrome_trace(&item.trace)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::two_branches;
    use crate::hardware::load_hardware;

    #[test]
    fn file_names_are_unique_and_safe() {
        let hw = load_hardware("a100", &[]).unwrap();
        let mut t = two_branches();
        t.workload = "my graph/v2".into();
        let a = Characterized::new(t.clone(), &hw);
        let n = FileNames::for_items(&[&a.metrics, &a.metrics]);
        assert_eq!(n.timelines, ["timeline-my-graph-v2-h.svg", "timeline-my-graph-v2-h-2.svg"]);
        assert_eq!(n.rooflines, [("h".to_string(), "roofline-h.svg".to_string())]);
    }

    #[test]
    fn a_run_writes_the_report_csvs_plots_and_traces() {
        let hw = load_hardware("a100", &[]).unwrap();
        let a = Characterized::new(two_branches(), &hw);
        let mut t = two_branches();
        t.hardware = "other".into();
        let b = Characterized::new(t, &hw);
        let files = characterize_files(&[a, b]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for want in [
            "report.md", "characterization.json", "summary.csv", "stages.csv", "sync.csv", "op_types.csv", "kernel_buckets.csv", "kernels.csv",
            "utilization.csv", "roofline_ops.csv", "memory.csv", "stages.svg", "roofline-h.svg", "roofline-other.svg", "timeline-t-h.svg",
            "trace-t-other.json",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let report = String::from_utf8(files[0].contents.clone()).unwrap();
        assert!(report.contains("](timeline-t-other.svg)") && report.contains("](roofline-h.svg)"), "{report}");
        let summary = files.iter().find(|f| f.name == "summary.csv").unwrap();
        assert_eq!(String::from_utf8_lossy(&summary.contents).lines().count(), 3);
    }
}
