//! One configuration predicted and measured, side by side, end to end and per stage; and the error statistics
//! over many of them, as a table, CSV and a scatter plot.

use super::stats::{error_stats, relative_error, ErrorStats};
use crate::analysis::stage_breakdown;
use crate::error::{Error, Location, Result};
use crate::report::plots::{scatter_svg, Axes, Series};
use crate::trace::Trace;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What validation needs of a measured run: its configuration and its end-to-end and stage times. Built from
/// a measured [`Trace`], or read from a saved `mmbench run --format json` result (whose fields these are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredRun {
    pub workload: String,
    pub batch: usize,
    /// FLOPs of one inference: tells a run at another input scale from this one.
    pub flops: u64,
    pub adapter: String,
    pub latency_ms: f64,
    pub stages: Vec<StageMs>,
    /// The fastest iteration's times (saved by `run` since validation compares at the fastest iteration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fastest: Option<FastestMs>,
    /// What the profiler counted (a PyTorch run's `torch` section); absent for runs without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<MeasuredKernels>,
    /// The machine it ran on and its quick probe; absent from older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::hardware::machine::MachineRecord>,
}

/// The kernels of one inference as the profiler counted them, and how the run was issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredKernels {
    pub kernels: u64,
    /// Whether the encoders ran on streams of their own (`run --streams`): stage times then come from the
    /// streams' own events, not from one stream's order.
    #[serde(default)]
    pub streams: bool,
    /// The host's time to issue one inference's calls, each timed alone (a PyTorch run's `issue_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_ms: Option<f64>,
}

/// The fastest iteration's end-to-end and stage times, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastestMs {
    pub latency_ms: f64,
    pub stages: Vec<StageMs>,
}

/// Which iteration of a measured run predictions are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// The fastest: on a shared machine (a CPU adapter shares its cores with everything else) other work
    /// only ever adds time, so the fastest iteration is the least disturbed measurement of the device.
    Fastest,
    /// The median iteration, as `run` reports it.
    Median,
}

/// A stage (and modality) time, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMs {
    pub stage: crate::graph::Stage,
    #[serde(default)]
    pub modality: Option<String>,
    pub ms: f64,
}

impl StageMs {
    pub fn label(&self) -> String {
        match &self.modality {
            Some(m) => format!("{}:{m}", self.stage.name()),
            None => self.stage.name().to_string(),
        }
    }
}

/// Stage times of a trace.
pub fn stage_times(t: &Trace) -> Vec<StageMs> {
    stage_breakdown(t).into_iter().map(|s| StageMs { stage: s.stage, modality: s.modality, ms: s.seconds * 1e3 }).collect()
}

/// Stage times as the PyTorch runner measures them on one stream: a CUDA event recorded as each segment (a run
/// of consecutive calls of one stage and modality) ends. An event completes once the host has recorded it and
/// the stream has finished all work issued before it, so host work that overlaps the GPU's backlog of the
/// segment before (sarcasm's audio features while the video frames' convolutions still run) is timed only
/// from the moment that backlog drains. Each segment gets the time from the previous segment's event to its
/// own, as the measured trace gives it, and the last one the rest of the inference (its final synchronize).
/// The host's clock is the plan's: each record's `host_s` in issue order.
pub fn event_stage_times(t: &Trace) -> Vec<StageMs> {
    let mut times: Vec<((crate::graph::Stage, Option<u16>), f64)> = Vec::new();
    let mut add = |key: (crate::graph::Stage, Option<u16>), dt: f64| match times.iter_mut().find(|(k, _)| *k == key) {
        Some((_, t)) => *t += dt,
        None => times.push((key, dt)),
    };
    let (mut host, mut done, mut last_event) = (0.0f64, 0.0f64, 0.0f64);
    let mut current: Option<(crate::graph::Stage, Option<u16>)> = None;
    for r in t.executed() {
        let key = (r.stage, r.modality);
        if let Some(open) = current.filter(|c| *c != key) {
            let event = host.max(done);
            add(open, event - last_event);
            last_event = event;
        }
        current = Some(key);
        host += r.host_s;
        done = done.max(r.end_s);
    }
    if let Some(open) = current {
        add(open, (t.latency_s - last_event).max(0.0));
    }
    times.sort_by_key(|((stage, m), _)| (*stage, m.map_or(u32::MAX, u32::from)));
    times.into_iter().map(|((stage, m), s)| StageMs { stage, modality: t.modality_name(m).map(str::to_string), ms: s * 1e3 }).collect()
}

impl MeasuredRun {
    pub fn from_trace(t: &Trace, adapter: &str) -> Self {
        MeasuredRun { workload: t.workload.clone(), batch: t.batch, flops: t.flops, adapter: adapter.to_string(), latency_ms: t.latency_s * 1e3, stages: stage_times(t), fastest: None, torch: None, machine: None }
    }

    /// The run at `statistic`: the fastest iteration's times in place of the median's where asked for.
    /// `source` names the run in the error when a saved run has no fastest iteration (an older `run`).
    pub fn at(mut self, statistic: Statistic, source: &str) -> Result<Self> {
        if statistic == Statistic::Fastest {
            let f = self.fastest.take().ok_or_else(|| {
                Error::input(Location::file(source).field("fastest"), "the saved run has no fastest iteration (saved by an older mmbench): run it again, or validate with `--statistic median`")
            })?;
            self.latency_ms = f.latency_ms;
            self.stages = f.stages;
        }
        Ok(self)
    }

    /// Reads a saved `mmbench run --format json` result.
    pub fn read(path: &str) -> Result<Self> {
        let text = crate::input::read_text(std::path::Path::new(path))?;
        let run: MeasuredRun = serde_json::from_str(&text).map_err(|e| {
            let loc = Location { line: Some(e.line()), column: Some(e.column()), ..Location::file(path) };
            Error::input(loc, format!("not a result of `mmbench run --format json`: {e}"))
        })?;
        let times = std::iter::once((run.latency_ms, &run.stages)).chain(run.fastest.as_ref().map(|f| (f.latency_ms, &f.stages)));
        if times.into_iter().any(|(l, stages)| !(l.is_finite() && l > 0.0) || stages.iter().any(|s| !(s.ms.is_finite() && s.ms >= 0.0))) {
            return Err(Error::input(Location::file(path).field("latency_ms"), "measured times must be positive and finite"));
        }
        Ok(run)
    }
}

/// One configuration, predicted and measured.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub workload: String,
    pub batch: usize,
    pub predicted_ms: f64,
    pub measured_ms: f64,
    pub error: f64,
    pub stages: Vec<StageComparison>,
    /// Kernels of one inference, predicted (the runtime's counts) and measured, where the run counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels: Option<KernelComparison>,
    /// The host's time to issue one inference's calls, predicted (the plan's host costs) and measured, where
    /// the run timed its calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<IssueComparison>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct IssueComparison {
    pub predicted_ms: f64,
    pub measured_ms: f64,
    pub error: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct KernelComparison {
    pub predicted: u64,
    pub measured: u64,
    pub error: f64,
}

/// A kernel count within this relative error of the measured one counts as right (#14's bar).
pub const KERNEL_COUNT_TOLERANCE: f64 = 0.10;

#[derive(Debug, Clone, Serialize)]
pub struct StageComparison {
    pub stage: String,
    pub predicted_ms: f64,
    pub measured_ms: f64,
    pub error: f64,
}

/// Stages shorter than this share of the measured latency are listed but left out of the per-stage
/// statistics: a 2 % stage's relative error says little about the model and much about timer resolution.
pub const MIN_STAGE_SHARE: f64 = 0.05;

/// Compares a prediction with a measurement of the same configuration; refuses a measurement of another one.
pub fn compare(predicted: &Trace, measured: &MeasuredRun) -> Result<Comparison> {
    if predicted.workload != measured.workload || predicted.batch != measured.batch || predicted.flops != measured.flops {
        return Err(Error::input(
            Location::default(),
            format!(
                "the measured run is of `{}` at batch {} ({} FLOPs), the prediction of `{}` at batch {} ({} FLOPs): not the same configuration \
                 (check --batch and --scale)",
                measured.workload, measured.batch, measured.flops, predicted.workload, predicted.batch, predicted.flops
            ),
        ));
    }
    // A PyTorch run on one stream times its stages with CUDA events: predict them the same way.
    let one_stream_torch = measured.torch.as_ref().is_some_and(|t| !t.streams) && predicted.runtime == "eager";
    let pred_stages = if one_stream_torch { event_stage_times(predicted) } else { stage_times(predicted) };
    let mut stages = Vec::new();
    for m in &measured.stages {
        let p = pred_stages.iter().find(|p| p.stage == m.stage && p.modality == m.modality).map_or(0.0, |p| p.ms);
        stages.push(StageComparison { stage: m.label(), predicted_ms: p, measured_ms: m.ms, error: if m.ms > 0.0 { relative_error(p, m.ms) } else { f64::NAN } });
    }
    let predicted_ms = predicted.latency_s * 1e3;
    let kernels = measured.torch.as_ref().filter(|t| t.kernels > 0).map(|t| {
        let p: u64 = predicted.ops.iter().filter(|o| o.kind == crate::trace::RecordKind::Op).map(|o| u64::from(o.kernels)).sum();
        KernelComparison { predicted: p, measured: t.kernels, error: relative_error(p as f64, t.kernels as f64) }
    });
    let issue = measured.torch.as_ref().and_then(|t| t.issue_ms).filter(|&ms| ms > 0.0).map(|ms| {
        let p = predicted.ops.iter().map(|o| o.host_s).sum::<f64>() * 1e3;
        IssueComparison { predicted_ms: p, measured_ms: ms, error: relative_error(p, ms) }
    });
    Ok(Comparison {
        workload: measured.workload.clone(),
        batch: measured.batch,
        predicted_ms,
        measured_ms: measured.latency_ms,
        error: relative_error(predicted_ms, measured.latency_ms),
        stages,
        kernels,
        issue,
    })
}

/// Statistics over a set of comparisons.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub end_to_end: Option<ErrorStats>,
    /// Over every stage of at least [`MIN_STAGE_SHARE`] of its configuration's latency.
    pub stages: Option<ErrorStats>,
}

pub fn summarize(rows: &[Comparison]) -> Summary {
    let e2e: Vec<(f64, f64)> = rows.iter().map(|r| (r.predicted_ms, r.measured_ms)).collect();
    let stages: Vec<(f64, f64)> = rows
        .iter()
        .flat_map(|r| r.stages.iter().filter(move |s| s.measured_ms >= MIN_STAGE_SHARE * r.measured_ms).map(|s| (s.predicted_ms, s.measured_ms)))
        .collect();
    Summary { end_to_end: error_stats(&e2e), stages: error_stats(&stages) }
}

fn pct(x: f64) -> String {
    if x.is_finite() { format!("{:+.1}%", x * 100.0) } else { "-".into() }
}

fn stats_line(name: &str, s: &Option<ErrorStats>) -> String {
    match s {
        Some(s) => format!(
            "{name:<11} n={:<4} MAPE {:.1}% (95% CI {:.1}-{:.1}%), worst {:.1}%, bias {:+.1}%, Spearman {:.3}\n",
            s.n,
            s.mape * 100.0,
            s.mape_ci95.0 * 100.0,
            s.mape_ci95.1 * 100.0,
            s.worst * 100.0,
            s.bias * 100.0,
            s.spearman
        ),
        None => format!("{name:<11} no pairs\n"),
    }
}

/// The readable report: one block per configuration, then the statistics.
pub fn table(rows: &[Comparison], summary: &Summary, hardware: &str, runtime: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "predicted on {hardware} (runtime {runtime}) against measured runs\n");
    let _ = writeln!(s, "{:<34} {:>12} {:>12} {:>8}", "configuration / stage", "predicted ms", "measured ms", "error");
    for r in rows {
        let _ = writeln!(s, "{:<34} {:>12.3} {:>12.3} {:>8}", format!("{} batch {}", r.workload, r.batch), r.predicted_ms, r.measured_ms, pct(r.error));
        if let Some(k) = &r.kernels {
            let _ = writeln!(s, "  {:<32} {:>12} {:>12} {:>8}", "kernels", k.predicted, k.measured, pct(k.error));
        }
        if let Some(h) = &r.issue {
            let _ = writeln!(s, "  {:<32} {:>12.3} {:>12.3} {:>8}", "host issue", h.predicted_ms, h.measured_ms, pct(h.error));
        }
        for st in &r.stages {
            let small = if st.measured_ms < MIN_STAGE_SHARE * r.measured_ms { " (small)" } else { "" };
            let _ = writeln!(s, "  {:<32} {:>12.3} {:>12.3} {:>8}{small}", st.stage, st.predicted_ms, st.measured_ms, pct(st.error));
        }
    }
    let _ = writeln!(s);
    s.push_str(&stats_line("end-to-end", &summary.end_to_end));
    s.push_str(&stats_line("per stage", &summary.stages));
    let counted: Vec<&KernelComparison> = rows.iter().filter_map(|r| r.kernels.as_ref()).collect();
    if !counted.is_empty() {
        let within = counted.iter().filter(|k| k.error.abs() <= KERNEL_COUNT_TOLERANCE).count();
        let mean = counted.iter().map(|k| k.error.abs()).sum::<f64>() / counted.len() as f64;
        let _ = writeln!(s, "{:<11} n={:<4} {within} within {:.0}% of measured, mean |error| {:.1}%", "kernels", counted.len(), KERNEL_COUNT_TOLERANCE * 100.0, mean * 100.0);
    }
    // The host's issue time of each configuration, where the runs timed their calls: how well the runtime's
    // call costs hold inside a model.
    let issued: Vec<(f64, f64)> = rows.iter().filter_map(|r| r.issue.map(|h| (h.predicted_ms, h.measured_ms))).collect();
    if let stats @ Some(_) = error_stats(&issued) {
        s.push_str(&stats_line("host issue", &stats));
    }
    s
}

/// One CSV row per configuration and stage (`stage` is `end-to-end` for the whole inference).
pub fn csv(rows: &[Comparison]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Unsupported(format!("writing CSV: {e}"));
    w.write_record(["workload", "batch", "stage", "predicted_ms", "measured_ms", "error"]).map_err(io)?;
    for r in rows {
        let b = r.batch.to_string();
        w.write_record([r.workload.as_str(), &b, "end-to-end", &format!("{:.6}", r.predicted_ms), &format!("{:.6}", r.measured_ms), &format!("{:.5}", r.error)]).map_err(io)?;
        for st in &r.stages {
            w.write_record([r.workload.as_str(), &b, &st.stage, &format!("{:.6}", st.predicted_ms), &format!("{:.6}", st.measured_ms), &format!("{:.5}", st.error)]).map_err(io)?;
        }
    }
    String::from_utf8(w.into_inner().map_err(|e| Error::Unsupported(format!("writing CSV: {e}")))?).map_err(|e| Error::Unsupported(e.to_string()))
}

/// Predicted against measured end-to-end latency, log axes, one colour per workload, with y = x.
pub fn scatter(rows: &[Comparison], title: &str) -> Result<String> {
    let mut series: Vec<Series> = Vec::new();
    for r in rows {
        match series.iter_mut().find(|s| s.name == r.workload) {
            Some(s) => s.points.push((r.measured_ms, r.predicted_ms)),
            None => series.push(Series { name: r.workload.clone(), points: vec![(r.measured_ms, r.predicted_ms)] }),
        }
    }
    let axes = Axes { title: title.into(), x_label: "measured latency (ms)".into(), y_label: "predicted latency (ms)".into(), log_x: true, log_y: true };
    scatter_svg(&axes, &series, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Stage;

    fn run(workload: &str, batch: usize, latency: f64, stages: &[(Stage, Option<&str>, f64)]) -> MeasuredRun {
        MeasuredRun {
            workload: workload.into(),
            batch,
            flops: 100,
            adapter: "test".into(),
            latency_ms: latency,
            stages: stages.iter().map(|&(stage, m, ms)| StageMs { stage, modality: m.map(String::from), ms }).collect(),
            fastest: None,
            torch: None,
            machine: None,
        }
    }

    fn comparison(workload: &str, predicted: f64, measured: f64, stages: Vec<(f64, f64)>) -> Comparison {
        Comparison {
            workload: workload.into(),
            batch: 1,
            predicted_ms: predicted,
            measured_ms: measured,
            error: relative_error(predicted, measured),
            stages: stages
                .into_iter()
                .enumerate()
                .map(|(i, (p, m))| StageComparison { stage: format!("s{i}"), predicted_ms: p, measured_ms: m, error: relative_error(p, m) })
                .collect(),
            kernels: None,
            issue: None,
        }
    }

    #[test]
    fn statistics_match_a_hand_computed_table() {
        // Errors +10 %, -20 %, +5 %, 0 %: MAPE 8.75 %, worst 20 % (the second), bias -1.25 %.
        let rows = vec![
            comparison("a", 11.0, 10.0, vec![(6.0, 5.0), (0.1, 4.0)]),
            comparison("a", 16.0, 20.0, vec![(8.0, 10.0)]),
            comparison("b", 42.0, 40.0, vec![]),
            comparison("b", 5.0, 5.0, vec![(2.0, 2.0)]),
        ];
        let s = summarize(&rows);
        let e = s.end_to_end.clone().unwrap();
        assert_eq!(e.n, 4);
        assert!((e.mape - 0.0875).abs() < 1e-12 && (e.worst - 0.2).abs() < 1e-12 && e.worst_index == 1);
        assert!((e.bias + 0.0125).abs() < 1e-12);
        // Measured order 10 < 20 < 40 and 5 lowest: predicted order 5 < 11 < 16 < 42 is the same.
        assert!((e.spearman - 1.0).abs() < 1e-12);
        // Stages: (6, 5) +20 %, (0.1, 4) 40 % of its 10 ms row: kept, (8, 10) -20 %, (2, 2) 0 % -> MAPE 27.4 %.
        let st = s.stages.clone().unwrap();
        assert_eq!(st.n, 4);
        assert!((st.mape - (0.2 + 0.975 + 0.2 + 0.0) / 4.0).abs() < 1e-12, "{st:?}");
        let text = table(&rows, &s, "hw", "wgpu");
        assert!(text.contains("MAPE 8.8%") && text.contains("worst 20.0%"), "{text}");
        let c = csv(&rows).unwrap();
        assert_eq!(c.lines().count(), 1 + 4 + 4);
        assert!(c.lines().nth(1).unwrap().starts_with("a,1,end-to-end,11.000000,10.000000,0.10000"));
        let svg = scatter(&rows, "t").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("measured latency"));
    }

    #[test]
    fn small_stages_are_listed_but_not_counted() {
        let rows = vec![comparison("a", 10.0, 10.0, vec![(9.0, 9.8), (1.0, 0.2)])];
        let st = summarize(&rows).stages.unwrap();
        assert_eq!(st.n, 1);
        assert!(table(&rows, &summarize(&rows), "hw", "wgpu").contains("(small)"));
    }

    #[test]
    fn a_run_that_counted_its_kernels_is_compared_with_the_predicted_count() {
        let w = crate::graph::load_workload("av-mnist", &Default::default()).unwrap();
        let hw = crate::hardware::load_hardware("a100", &[]).unwrap();
        let t = crate::predict::predict(&w, &hw, &Default::default()).unwrap();
        let mut m = MeasuredRun::from_trace(&t, "test");
        assert!(compare(&t, &m).unwrap().kernels.is_none(), "no count, no comparison");
        let predicted = w.kernels();
        m.torch = Some(MeasuredKernels { kernels: predicted * 2, streams: false, issue_ms: None });
        let c = compare(&t, &m).unwrap();
        let k = c.kernels.unwrap();
        assert_eq!((k.predicted, k.measured), (predicted, predicted * 2));
        assert!((k.error + 0.5).abs() < 1e-12);
        let text = table(&[c.clone()], &summarize(&[c]), "hw", "eager");
        assert!(text.contains("kernels     n=1    0 within 10% of measured, mean |error| 50.0%"), "{text}");
        // A saved PyTorch run's `torch` section carries the count.
        let json = format!("{{\"workload\":\"av-mnist\",\"batch\":1,\"flops\":1,\"adapter\":\"x\",\"latency_ms\":1.0,\"stages\":[],\"torch\":{{\"kernels\":54,\"copies\":2}}}}");
        let run: MeasuredRun = serde_json::from_str(&json).unwrap();
        assert_eq!(run.torch, Some(MeasuredKernels { kernels: 54, streams: false, issue_ms: None }));
    }

    #[test]
    fn a_run_that_timed_its_calls_is_compared_with_the_predicted_host_issue() {
        // Eager PyTorch on the calibrated H100: at batch 1 the host issues every call, and the plan's host
        // costs add up to what the comparison calls predicted.
        let w = crate::graph::load_workload("av-mnist", &crate::graph::WorkloadOptions { batch: Some(1), ..Default::default() }).unwrap();
        let hw = crate::hardware::load_hardware("h100", &[]).unwrap();
        let t = crate::predict::predict(&w, &hw, &Default::default()).unwrap();
        let host: f64 = t.ops.iter().map(|o| o.host_s).sum::<f64>() * 1e3;
        // 54 kernels' launches at least, and no more than the inference.
        assert!(host > 54.0 * 4e-3 && host < t.latency_s * 1e3, "{host} ms of {} ms", t.latency_s * 1e3);
        let mut m = MeasuredRun::from_trace(&t, "test");
        m.torch = Some(MeasuredKernels { kernels: 54, streams: false, issue_ms: Some(host * 1.25) });
        let c = compare(&t, &m).unwrap();
        let h = c.issue.unwrap();
        assert!((h.predicted_ms - host).abs() < 1e-12 && (h.error + 0.2).abs() < 1e-12, "{h:?}");
        let text = table(&[c.clone()], &summarize(&[c]), "hw", "eager");
        assert!(text.contains("host issue") && text.contains("-20.0%"), "{text}");
    }

    #[test]
    fn a_measurement_of_another_configuration_is_refused() {
        let w = crate::graph::load_workload("av-mnist", &Default::default()).unwrap();
        let hw = crate::hardware::load_hardware("a100", &[]).unwrap();
        let t = crate::predict::predict(&w, &hw, &Default::default()).unwrap();
        let mut m = MeasuredRun::from_trace(&t, "test");
        assert!(compare(&t, &m).is_ok());
        m.batch += 1;
        let e = compare(&t, &m).unwrap_err().to_string();
        assert!(e.contains("not the same configuration"), "{e}");
        let mut m = MeasuredRun::from_trace(&t, "test");
        m.flops /= 2;
        assert!(compare(&t, &m).is_err());
    }

    #[test]
    fn the_fastest_iteration_replaces_the_median_when_asked_for() {
        let median = run("av-mnist", 4, 2.5, &[(Stage::Encoder, Some("image"), 2.0)]);
        let fastest = FastestMs { latency_ms: 2.0, stages: vec![StageMs { stage: Stage::Encoder, modality: Some("image".into()), ms: 1.6 }] };
        let both = MeasuredRun { fastest: Some(fastest.clone()), ..median.clone() };
        let f = both.clone().at(Statistic::Fastest, "r.json").unwrap();
        assert_eq!((f.latency_ms, f.stages.clone()), (2.0, fastest.stages));
        let m = both.at(Statistic::Median, "r.json").unwrap();
        assert_eq!((m.latency_ms, m.stages), (2.5, median.stages.clone()));
        // A run saved without its fastest iteration says what to do.
        let e = median.at(Statistic::Fastest, "old.json").unwrap_err().to_string();
        assert!(e.contains("old.json") && e.contains("--statistic median"), "{e}");
    }

    #[test]
    fn saved_runs_are_read_and_bad_files_named() {
        let dir = std::env::temp_dir().join(format!("mmbench-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = run("av-mnist", 4, 2.5, &[(Stage::Encoder, Some("image"), 2.0), (Stage::Head, None, 0.5)]);
        let p = dir.join("good.json");
        std::fs::write(&p, serde_json::to_string(&good).unwrap()).unwrap();
        assert_eq!(MeasuredRun::read(p.to_str().unwrap()).unwrap(), good);
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"workload\": \"x\",\n \"batch\": \"four\"}").unwrap();
        let e = MeasuredRun::read(bad.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains(":2:") && e.contains("mmbench run"), "{e}");
        let mut neg = good.clone();
        neg.latency_ms = -1.0;
        std::fs::write(&bad, serde_json::to_string(&neg).unwrap()).unwrap();
        assert!(MeasuredRun::read(bad.to_str().unwrap()).unwrap_err().to_string().contains("latency_ms"));
        assert!(MeasuredRun::read(dir.join("missing.json").to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// One op record on device `device` (0 the host, 1 the GPU) of `stage`/`modality`.
    fn op(name: &str, stage: Stage, modality: u16, device: u16, start: f64, end: f64, host: f64) -> crate::trace::OpRecord {
        crate::trace::OpRecord {
            name: name.into(),
            op: if device == 0 { "host_work".into() } else { "conv2d".into() },
            kind: crate::trace::RecordKind::Op,
            class: crate::graph::OpClass::Conv,
            stage,
            modality: Some(modality),
            device,
            stream: 0,
            start_s: start,
            end_s: end,
            flops: 1,
            bytes: 1,
            kernels: u32::from(device),
            inputs: vec![],
            out_bytes: 0,
            host_s: host,
        }
    }

    #[test]
    fn event_stage_times_give_host_work_only_what_outlasts_the_gpu_backlog() {
        // Video: the host issues two convolutions in 2 ms that run until 10 ms. Audio: 12 ms of host work from
        // 2 ms, so 8 ms of it overlap the video's backlog. Text: one convolution issued at 15 ms, done at 16 ms.
        let ops = vec![
            op("v1", Stage::Encoder, 0, 1, 0.001, 0.005, 0.001),
            op("v2", Stage::Encoder, 0, 1, 0.005, 0.010, 0.001),
            op("a", Stage::Encoder, 1, 0, 0.002, 0.014, 0.012),
            op("t", Stage::Encoder, 2, 1, 0.015, 0.016, 0.001),
        ];
        let t = Trace {
            workload: "w".into(),
            hardware: "h".into(),
            runtime: "eager".into(),
            batch: 1,
            source: crate::trace::TraceSource::Predicted,
            devices: vec!["cpu".into(), "gpu".into()],
            modalities: vec!["video".into(), "audio".into(), "text".into()],
            ops,
            latency_s: 0.017,
            params: 0,
            flops: 4,
        };
        let ms: Vec<(String, f64)> = event_stage_times(&t).iter().map(|s| (s.label(), s.ms)).collect();
        let near = |label: &str, want: f64| {
            let got = ms.iter().find(|(l, _)| l == label).unwrap().1;
            assert!((got - want).abs() < 1e-9, "{label}: {got} ms, expected {want}");
        };
        // Video's event completes when its backlog drains (10 ms); audio's when its host work ends (14 ms);
        // text's when its kernel ends (16 ms), plus the tail to the end of the inference.
        near("encoder:video", 10.0);
        near("encoder:audio", 4.0);
        near("encoder:text", 3.0);
        assert!((ms.iter().map(|(_, m)| m).sum::<f64>() - 17.0).abs() < 1e-9, "the stages add up to the latency: {ms:?}");
        // Attributed by overlap instead, the audio would take half of the 8 ms it shares with the video.
        let shared: f64 = stage_times(&t).iter().filter(|s| s.label() == "encoder:audio").map(|s| s.ms).sum();
        assert!(shared > 4.0 + 1e-6, "{shared}");
    }
}
