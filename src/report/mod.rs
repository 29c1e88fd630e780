//! Reports over one result type per command, one file per output format (table, JSON, CSV, Markdown,
//! Chrome trace, SVG plots). Results go to stdout or to files written whole or not at all.

pub mod characterize;
pub mod chrome;
pub mod csv;
pub mod json;
pub mod markdown;
pub mod plots;
pub mod table;

use crate::analysis::{critical_path, stage_breakdown, sync_report, CriticalPath, StageTime, SyncReport};
use crate::error::{Error, Result};
use crate::graph::{Stage, Workload};
use crate::hardware::Hardware;
use crate::trace::Trace;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// One stage row of a prediction (the JSON contract's `stages` entries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRow {
    pub stage: Stage,
    pub modality: Option<String>,
    pub ms: f64,
    pub share: f64,
    pub ops: usize,
    pub kernels: u64,
}

impl StageRow {
    /// The rows of stage times measured against an end-to-end latency (seconds), predicted or measured.
    pub fn rows(stages: Vec<StageTime>, latency: f64) -> Vec<StageRow> {
        stages
            .into_iter()
            .map(|s| StageRow {
                stage: s.stage,
                modality: s.modality,
                ms: s.seconds * 1e3,
                share: if latency > 0.0 { s.seconds / latency } else { 0.0 },
                ops: s.ops,
                kernels: s.kernels,
            })
            .collect()
    }
}

/// Everything `mmbench predict` reports.
#[derive(Debug, Clone, Serialize)]
pub struct PredictReport {
    pub workload: String,
    pub hardware: String,
    pub runtime: String,
    /// What the runtime assumes about overlap and launch costs.
    pub runtime_assumption: String,
    pub batch: usize,
    pub latency_ms: f64,
    pub sync_wait_ms: f64,
    pub imbalance: f64,
    pub params: u64,
    pub unregistered_params: u64,
    pub flops: u64,
    pub ops: usize,
    pub kernels: u64,
    pub stages: Vec<StageRow>,
    pub critical_path: CriticalPath,
    pub sync: SyncReport,
    /// Devices each stage ran on, `stage/modality -> device`.
    pub devices: Vec<String>,
}

impl PredictReport {
    pub fn new(w: &Workload, hw: &Hardware, t: &Trace) -> Self {
        let stages: Vec<StageTime> = stage_breakdown(t);
        let sync = sync_report(t);
        let rt = hw.runtime(&t.runtime).map(|r| r.assumption()).unwrap_or_default();
        let latency = t.latency_s;
        let mut used: Vec<u16> = t.executed().map(|r| r.device).collect();
        used.sort_unstable();
        used.dedup();
        PredictReport {
            workload: t.workload.clone(),
            hardware: t.hardware.clone(),
            runtime: t.runtime.clone(),
            runtime_assumption: rt,
            batch: t.batch,
            latency_ms: latency * 1e3,
            sync_wait_ms: sync.total_wait_s * 1e3,
            imbalance: sync.imbalance,
            params: w.params(),
            unregistered_params: w.unregistered_params(),
            flops: w.flops(),
            ops: w.compute_ops(),
            // As the runtime launches them (cuDNN's count where the calibration measured it).
            kernels: t.ops.iter().filter(|r| r.kind == crate::trace::RecordKind::Op).map(|r| u64::from(r.kernels)).sum(),
            stages: StageRow::rows(stages, latency),
            critical_path: critical_path(t),
            sync,
            devices: used.into_iter().map(|d| t.devices[d as usize].clone()).collect(),
        }
    }
}

/// One (device, stream) of a trace: a row of a timeline, a thread of a Chrome trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Track {
    pub device: u16,
    pub stream: u32,
    /// Whether every record on it is a copy between devices.
    pub copies_only: bool,
}

impl Track {
    /// `stream 1`, or `copies (stream 99)`.
    pub fn label(&self) -> String {
        if self.copies_only { format!("copies (stream {})", self.stream) } else { format!("stream {}", self.stream) }
    }
}

/// The tracks that executed records use, by device then stream.
pub fn tracks(t: &Trace) -> Vec<Track> {
    let mut out: Vec<Track> = Vec::new();
    for r in t.executed() {
        let copy = r.kind == crate::trace::RecordKind::Transfer;
        match out.iter_mut().find(|tr| tr.device == r.device && tr.stream == r.stream) {
            Some(tr) => tr.copies_only &= copy,
            None => out.push(Track { device: r.device, stream: r.stream, copies_only: copy }),
        }
    }
    out.sort_unstable();
    out
}

/// Writes `text` to `out` (whole or not at all: a temporary file renamed into place) or to stdout.
pub fn emit(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush());
            Ok(())
        }
        Some(path) => write_atomic(path, text.as_bytes()),
    }
}

/// Writes a file through a temporary sibling and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let werr = |source| Error::Write { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| werr(std::io::Error::other("not a file name")))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all())).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(())
}

/// `12,345,678`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// FLOPs with a unit: `1.23 GFLOP`.
pub fn flops_text(f: u64) -> String {
    let f = f as f64;
    for (scale, unit) in [(1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"), (1e3, "kFLOP")] {
        if f >= scale {
            return format!("{:.3} {unit}", f / scale);
        }
    }
    format!("{f} FLOP")
}

/// Seconds with a unit: `1.23 ms`, `4.5 us`.
pub fn seconds_text(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.2} us", s * 1e6)
    }
}

/// Bytes with a binary unit.
pub fn bytes_text(b: u64) -> String {
    let b = b as f64;
    for (scale, unit) in [(1u64 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if b >= scale as f64 {
            return format!("{:.2} {unit}", b / scale as f64);
        }
    }
    format!("{b} B")
}

/// A progress bar over `len` steps that shows the current step's label (calibration suites, campaigns).
pub fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} {wide_bar} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(260_922), "260,922");
        assert_eq!(thousands(12), "12");
        assert_eq!(flops_text(1_500_000_000), "1.500 GFLOP");
        assert_eq!(bytes_text(3 << 20), "3.00 MiB");
    }

    #[test]
    fn atomic_write_leaves_no_partial_file_on_error() {
        let dir = std::env::temp_dir().join(format!("mmbench-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("out.json");
        write_atomic(&ok, b"{}").unwrap();
        assert_eq!(std::fs::read(&ok).unwrap(), b"{}");
        let bad = dir.join("missing-dir").join("out.json");
        assert!(write_atomic(&bad, b"{}").is_err());
        assert!(!bad.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
