//! CSV output. `predict`: one row per stage of a prediction, then a `total` row. `characterize`: one file
//! per metric family, each row keyed by workload, hardware, runtime and batch so that many configurations
//! stack in one file.

use super::PredictReport;
use crate::analysis::{scope_name, Characterization};
use crate::error::{Error, Result};
use crate::graph::Stage;

/// A CSV document from a header and rows.
fn table<R: IntoIterator<Item = String>>(header: &[&str], rows: impl IntoIterator<Item = R>) -> Result<String> {
    let err = |e: ::csv::Error| Error::Unsupported(format!("CSV encoding failed: {e}"));
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r.into_iter().collect::<Vec<String>>()).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Unsupported(format!("CSV encoding failed: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
}

fn num(x: f64) -> String {
    format!("{x:.6}")
}

/// Seconds as milliseconds.
fn ms(s: f64) -> String {
    format!("{:.6}", s * 1e3)
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

pub fn predict_csv(r: &PredictReport) -> Result<String> {
    let key = [r.workload.clone(), r.hardware.clone(), r.runtime.clone(), r.batch.to_string()];
    let rows = r
        .stages
        .iter()
        .map(|s| [s.stage.name().to_string(), s.modality.clone().unwrap_or_default(), num(s.ms), num(s.share), s.ops.to_string(), s.kernels.to_string()])
        .chain(std::iter::once(["total".into(), String::new(), num(r.latency_ms), "1".into(), r.ops.to_string(), r.kernels.to_string()]))
        .map(|row| key.iter().cloned().chain(row));
    table(&["workload", "hardware", "runtime", "batch", "stage", "modality", "ms", "share", "ops", "kernels"], rows)
}

/// The columns every characterize CSV starts with.
const KEY: [&str; 4] = ["workload", "hardware", "runtime", "batch"];

fn key(c: &Characterization) -> impl Iterator<Item = String> {
    [c.workload.clone(), c.hardware.clone(), c.runtime.clone(), c.batch.to_string()].into_iter()
}

/// A characterize CSV: the key columns, then `header`, with `rows` giving each configuration's rows.
fn per_config<R: IntoIterator<Item = String>>(items: &[&Characterization], header: &[&str], rows: impl Fn(&Characterization) -> Vec<R>) -> Result<String> {
    let full: Vec<&str> = KEY.iter().chain(header).copied().collect();
    table(&full, items.iter().flat_map(|c| rows(c).into_iter().map(|r| key(c).chain(r).collect::<Vec<String>>())))
}

/// One row per configuration: the headline figures of the three traits and memory.
pub fn summary_csv(items: &[&Characterization]) -> Result<String> {
    let header = [
        "latency_ms", "encoder_share", "fusion_share", "head_share", "overlap_ms", "overlap_share", "sync_points", "sync_wait_ms", "sync_wait_share",
        "join_delay_ms", "imbalance", "kernels", "short_kernels", "short_kernel_share", "compute_bound_share", "memory_bound_share",
        "overhead_bound_share", "intensity_flop_per_byte", "compute_util", "memory_util", "params", "peak_activation_bytes", "critical_path",
    ];
    per_config(items, &header, |c| {
        let k = c.all_kernels();
        let u = c.all_utilization();
        vec![vec![
            ms(c.latency_s),
            num(c.stage_share(Stage::Encoder)),
            num(c.stage_share(Stage::Fusion)),
            num(c.stage_share(Stage::Head)),
            ms(c.overlap.overlap_s),
            num(c.overlap.share),
            c.sync.sync_points.to_string(),
            ms(c.sync.total_wait_s),
            num(c.sync.wait_share),
            ms(c.sync.join_delay_s),
            num(c.sync.imbalance),
            k.map_or(0, |k| k.kernels).to_string(),
            k.map_or(0, |k| k.short_kernels).to_string(),
            num(k.map_or(0.0, |k| k.short_share)),
            num(u.map_or(0.0, |u| u.compute_bound_share)),
            num(u.map_or(0.0, |u| u.memory_bound_share)),
            num(u.map_or(0.0, |u| u.overhead_bound_share)),
            opt(u.and_then(|u| u.intensity)),
            num(u.map_or(0.0, |u| u.compute_util)),
            num(u.map_or(0.0, |u| u.memory_util)),
            c.memory.params.to_string(),
            c.memory.peak_activation_bytes.to_string(),
            c.critical_path.describe(),
        ]]
    })
}

/// Time per stage and modality.
pub fn stages_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["stage", "modality", "ms", "share", "ops", "kernels"], |c| {
        c.stages.iter().map(|s| vec![s.stage.name().to_string(), s.modality.clone().unwrap_or_default(), ms(s.seconds), num(s.share), s.ops.to_string(), s.kernels.to_string()]).collect()
    })
}

/// Every branch arriving at every join.
pub fn sync_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["join", "join_start_ms", "branch", "ready_ms", "wait_ms"], |c| {
        c.sync
            .joins
            .iter()
            .flat_map(|j| j.branches.iter().map(move |b| vec![j.name.clone(), ms(j.start_s), b.branch.clone(), ms(b.ready_s), ms(b.wait_s)]))
            .collect()
    })
}

/// Count and time per op type and stage.
pub fn op_types_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["stage", "op_type", "ops", "kernels", "ms", "share"], |c| mix_rows(&c.mix.op_types))
}

/// Count and time per MMBench kernel bucket and stage.
pub fn kernel_buckets_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["stage", "bucket", "ops", "kernels", "ms", "share"], |c| mix_rows(&c.mix.buckets))
}

fn mix_rows(entries: &[crate::analysis::MixEntry]) -> Vec<Vec<String>> {
    entries.iter().map(|e| vec![scope_name(e.stage).to_string(), e.key.clone(), e.ops.to_string(), e.kernels.to_string(), ms(e.seconds), num(e.share)]).collect()
}

/// Kernel counts and short kernels per stage.
pub fn kernels_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["stage", "kernels", "short_kernels", "short_share", "ms", "short_ms", "mean_kernel_us"], |c| {
        c.kernels
            .iter()
            .map(|k| vec![scope_name(k.stage).to_string(), k.kernels.to_string(), k.short_kernels.to_string(), num(k.short_share), ms(k.seconds), ms(k.short_seconds), num(k.mean_kernel_s * 1e6)])
            .collect()
    })
}

/// Intensity, achieved rates, utilization and bound shares per stage.
pub fn utilization_csv(items: &[&Characterization]) -> Result<String> {
    let header = [
        "stage", "ops", "busy_ms", "flops", "bytes", "intensity_flop_per_byte", "achieved_gflops", "achieved_gbs", "compute_util", "memory_util",
        "compute_bound_share", "memory_bound_share", "overhead_bound_share",
    ];
    per_config(items, &header, |c| {
        c.roofline
            .stages
            .iter()
            .map(|u| {
                vec![
                    scope_name(u.stage).to_string(),
                    u.ops.to_string(),
                    ms(u.seconds),
                    u.flops.to_string(),
                    u.bytes.to_string(),
                    opt(u.intensity),
                    num(u.achieved_flops / 1e9),
                    num(u.achieved_bw / 1e9),
                    num(u.compute_util),
                    num(u.memory_util),
                    num(u.compute_bound_share),
                    num(u.memory_bound_share),
                    num(u.overhead_bound_share),
                ]
            })
            .collect()
    })
}

/// Every op under its roofline.
pub fn roofline_ops_csv(items: &[&Characterization]) -> Result<String> {
    let header = [
        "record", "name", "op_type", "stage", "modality", "device", "us", "flops", "bytes", "intensity_flop_per_byte", "achieved_gflops", "achieved_gbs",
        "compute_util", "memory_util", "roofline_us", "bound",
    ];
    per_config(items, &header, |c| {
        c.roofline
            .ops
            .iter()
            .map(|p| {
                vec![
                    p.record.to_string(),
                    p.name.clone(),
                    p.op.clone(),
                    p.stage.name().to_string(),
                    p.modality.clone().unwrap_or_default(),
                    p.device.clone(),
                    num(p.seconds * 1e6),
                    p.flops.to_string(),
                    p.bytes.to_string(),
                    opt(p.intensity),
                    num(p.achieved_flops / 1e9),
                    num(p.achieved_bw / 1e9),
                    num(p.compute_util),
                    num(p.memory_util),
                    num(p.roofline_s * 1e6),
                    bound_name(p.bound).to_string(),
                ]
            })
            .collect()
    })
}

pub fn bound_name(b: crate::predict::Bound) -> &'static str {
    match b {
        crate::predict::Bound::Compute => "compute",
        crate::predict::Bound::Memory => "memory",
        crate::predict::Bound::Overhead => "overhead",
        crate::predict::Bound::None => "none",
    }
}

/// Live activation bytes over time, per device (a step function: each row holds until the next).
pub fn memory_csv(items: &[&Characterization]) -> Result<String> {
    per_config(items, &["device", "t_ms", "live_bytes", "peak_bytes", "params", "param_bytes"], |c| {
        c.memory
            .devices
            .iter()
            .flat_map(|d| {
                d.timeline
                    .iter()
                    .map(|p| vec![d.device.clone(), ms(p.t_s), p.bytes.to_string(), d.peak_bytes.to_string(), c.memory.params.to_string(), c.memory.param_bytes.to_string()])
            })
            .collect()
    })
}
