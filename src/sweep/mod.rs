//! Design-space sweeps: many predictions from one spec (workloads × hardware × runtimes × sampled axes),
//! evaluated in parallel with rayon and returned in configuration order, so the same spec always gives the
//! same rows. Workloads and hardware descriptions are built once per distinct setting and shared.

pub mod metrics;
pub mod pareto;
pub mod sample;
pub mod spec;

pub use metrics::{Metric, Value};
pub use spec::{AxisValue, SweepSpec};

use crate::error::{Error, Result};
use crate::graph::{Workload, WorkloadOptions, WorkloadSource};
use crate::hardware::{Hardware, HardwareSource};
use crate::predict::{build_plan, simulate, Placement, PredictOptions};
use crate::whatif::{route, Sets, Target};
use crate::yaml::SetOp;
use metrics::WorkloadFacts;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One configuration to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Position in the whole sweep (shards keep it).
    pub index: usize,
    pub workload: usize,
    pub hardware: usize,
    pub runtime: usize,
    /// The value of every axis of the spec.
    pub values: Vec<AxisValue>,
}

/// One evaluated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub index: usize,
    pub workload: String,
    pub hardware: String,
    pub runtime: String,
    pub values: Vec<String>,
    pub metrics: Vec<Value>,
    /// Why the configuration could not be evaluated (an invalid value), if so.
    pub error: Option<String>,
}

/// Every configuration of a spec, in order: workload, hardware, runtime, then the sampled axes.
pub fn configurations(spec: &SweepSpec) -> Vec<Config> {
    let samples = sample::configurations(&spec.axes, spec.sampling);
    let mut out = Vec::with_capacity(spec.workloads.len() * spec.hardware.len() * spec.runtimes.len() * samples.len());
    for w in 0..spec.workloads.len() {
        for h in 0..spec.hardware.len() {
            for r in 0..spec.runtimes.len() {
                for s in &samples {
                    out.push(Config { index: out.len(), workload: w, hardware: h, runtime: r, values: s.clone() });
                }
            }
        }
    }
    out
}

/// The part `shard` (0-based) of `count` equal contiguous parts of `n` items.
pub fn shard_range(n: usize, shard: usize, count: usize) -> std::ops::Range<usize> {
    (shard * n / count)..((shard + 1) * n / count)
}

/// Parses `I/N` (0 <= I < N).
pub fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("`--shard {s}`: expected I/N, e.g. 0/4"))?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| format!("`--shard {s}`: bad index"))?, n.trim().parse().map_err(|_| format!("`--shard {s}`: bad count"))?);
    if n == 0 || i >= n {
        return Err(format!("`--shard {s}`: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// The workload and hardware settings a configuration implies.
struct Settings {
    workload_key: String,
    workload: WorkloadOptions,
    hardware_key: String,
    hardware: Sets,
    placement: Placement,
}

fn settings(spec: &SweepSpec, c: &Config) -> Settings {
    let mut wopts = WorkloadOptions::default();
    let mut hsets: Sets = Vec::new();
    let mut placement = Placement::default();
    for (axis, v) in spec.axes.iter().zip(&c.values) {
        let op = match v {
            AxisValue::Set(x) => SetOp::Assign(x.clone()),
            AxisValue::Scale(f) => SetOp::Multiply(*f),
        };
        if let Some(branch) = axis.key.strip_prefix("place.") {
            placement.assignments.push((branch.to_string(), v.text()));
            continue;
        }
        match (axis.key.as_str(), v) {
            ("variant", AxisValue::Set(serde_yaml::Value::String(s))) if s == "default" => {}
            ("variant", AxisValue::Set(serde_yaml::Value::Null)) => {}
            _ => match route(&axis.key) {
                (Target::Workload, k) => wopts.sets.push((k.to_string(), op)),
                (Target::Hardware, k) => hsets.push((k.to_string(), op)),
            },
        }
    }
    let key = |sets: &Sets| sets.iter().map(|(k, op)| format!("{k}={op:?}")).collect::<Vec<_>>().join(";");
    Settings {
        workload_key: format!("{}|{}", c.workload, key(&wopts.sets)),
        workload: wopts,
        hardware_key: format!("{}|{}", c.hardware, key(&hsets)),
        hardware: hsets,
        placement,
    }
}

/// Evaluates configurations in parallel; rows come back in the order of `configs`. `progress` is called
/// with the number of finished configurations (from worker threads).
pub fn run(spec: &SweepSpec, configs: &[Config], progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Row>> {
    // Parse every input file once; a missing workload or hardware is an error before any work.
    let wsources: Vec<WorkloadSource> = spec.workloads.iter().map(|w| WorkloadSource::open(w)).collect::<Result<_>>()?;
    let hsources: Vec<HardwareSource> = spec.hardware.iter().map(|h| HardwareSource::open(h)).collect::<Result<_>>()?;
    let settings: Vec<Settings> = configs.iter().map(|c| settings(spec, c)).collect();

    // Build each distinct workload and hardware once.
    let mut wkeys: Vec<(&str, usize)> = Vec::new();
    let mut hkeys: Vec<(&str, usize)> = Vec::new();
    {
        let mut seen_w = std::collections::HashSet::new();
        let mut seen_h = std::collections::HashSet::new();
        for (i, s) in settings.iter().enumerate() {
            if seen_w.insert(s.workload_key.as_str()) {
                wkeys.push((&s.workload_key, i));
            }
            if seen_h.insert(s.hardware_key.as_str()) {
                hkeys.push((&s.hardware_key, i));
            }
        }
    }
    type Built<T> = std::result::Result<T, String>;
    let workloads: HashMap<&str, Built<(Workload, WorkloadFacts)>> = wkeys
        .par_iter()
        .map(|&(k, i)| {
            let r = wsources[configs[i].workload].build(&settings[i].workload).map(|w| {
                let f = WorkloadFacts::new(&w);
                (w, f)
            });
            (k, r.map_err(|e| e.to_string()))
        })
        .collect();
    let hardware: HashMap<&str, Built<Hardware>> =
        hkeys.par_iter().map(|&(k, i)| (k, hsources[configs[i].hardware].build(&settings[i].hardware).map_err(|e| e.to_string()))).collect();

    let done = AtomicUsize::new(0);
    let rows = configs
        .par_iter()
        .zip(settings.par_iter())
        .map(|(c, s)| {
            let r = evaluate(spec, c, s, &workloads, &hardware);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            r
        })
        .collect();
    Ok(rows)
}

#[allow(clippy::type_complexity)]
fn evaluate(
    spec: &SweepSpec,
    c: &Config,
    s: &Settings,
    workloads: &HashMap<&str, std::result::Result<(Workload, WorkloadFacts), String>>,
    hardware: &HashMap<&str, std::result::Result<Hardware, String>>,
) -> Row {
    let runtime_name = spec.runtimes[c.runtime].clone();
    let mut row = Row {
        index: c.index,
        workload: spec.workloads[c.workload].clone(),
        hardware: spec.hardware[c.hardware].clone(),
        runtime: runtime_name.clone().unwrap_or_default(),
        values: c.values.iter().map(AxisValue::text).collect(),
        metrics: vec![Value::Missing; spec.metrics.len()],
        error: None,
    };
    let result = (|| -> std::result::Result<Vec<Value>, String> {
        let (w, facts) = workloads[s.workload_key.as_str()].as_ref().map_err(Clone::clone)?;
        let hw = hardware[s.hardware_key.as_str()].as_ref().map_err(Clone::clone)?;
        let opts = PredictOptions { runtime: runtime_name.clone(), placement: s.placement.clone() };
        let plan = build_plan(w, hw, &opts).map_err(|e| e.to_string())?;
        let schedule = simulate(&plan);
        Ok(metrics::compute(&spec.metrics, w, facts, hw, &plan, &schedule))
    })();
    match result {
        Ok(m) => {
            if row.runtime.is_empty()
                && let Ok(hw) = &hardware[s.hardware_key.as_str()] {
                    row.runtime = hw.runtimes[hw.default_runtime].name.clone();
                }
            row.metrics = m;
        }
        Err(e) => row.error = Some(e),
    }
    row
}

/// CSV header of a sweep's rows.
pub fn header(spec: &SweepSpec) -> Vec<String> {
    let mut h: Vec<String> = ["index", "workload", "hardware", "runtime"].iter().map(|s| s.to_string()).collect();
    h.extend(spec.axes.iter().map(|a| a.key.clone()));
    h.extend(spec.metrics.iter().map(|m| m.name().to_string()));
    h.push("error".into());
    h
}

/// One CSV record of a row.
pub fn record(r: &Row) -> Vec<String> {
    let mut v = vec![r.index.to_string(), r.workload.clone(), r.hardware.clone(), r.runtime.clone()];
    v.extend(r.values.iter().cloned());
    v.extend(r.metrics.iter().map(Value::text));
    v.push(r.error.clone().unwrap_or_default());
    v
}

/// Writes rows as CSV (with the header when `with_header`).
pub fn to_csv(spec: &SweepSpec, rows: &[Row], with_header: bool) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Unsupported(format!("CSV encoding failed: {e}"));
    if with_header {
        w.write_record(header(spec)).map_err(err)?;
    }
    for r in rows {
        w.write_record(record(r)).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Unsupported(format!("CSV encoding failed: {e}")))?;
    Ok(String::from_utf8(bytes).expect("UTF-8 fields"))
}
