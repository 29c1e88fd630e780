//! Design-space sweeps: many predictions from one spec (workloads × hardware × runtimes × sampled axes),
//! evaluated in parallel with rayon and returned in configuration order, so the same spec always gives the
//! same rows. Workloads and hardware descriptions are built once per distinct setting and shared. A whole
//! sweep runs through [`stream`]: configurations are made on demand from their number and evaluated chunk by
//! chunk, so its memory does not grow with its size.

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

/// Every configuration of a spec, in order: workload, hardware, runtime, then the sampled axes. Builds them
/// all: for small sweeps and tests; [`stream`] reads them one at a time through [`Configurations`].
pub fn configurations(spec: &SweepSpec) -> Vec<Config> {
    let c = Configurations::new(spec);
    (0..c.len()).map(|i| c.get(i)).collect()
}

/// The configurations of a spec, made on demand from their number, so a sweep's memory does not grow with
/// its size.
pub struct Configurations {
    samples: sample::Samples,
    workloads: usize,
    hardware: usize,
    runtimes: usize,
}

impl Configurations {
    pub fn new(spec: &SweepSpec) -> Self {
        let samples = sample::Samples::new(&spec.axes, spec.sampling);
        Configurations { samples, workloads: spec.workloads.len(), hardware: spec.hardware.len(), runtimes: spec.runtimes.len() }
    }

    /// How many configurations there are (within [`spec::MAX_CONFIGURATIONS`], checked by the spec).
    pub fn len(&self) -> usize {
        self.workloads * self.hardware * self.runtimes * self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Configuration number `index` (< `len()`): `index` in mixed radix over workloads, hardware, runtimes and
    /// the sampled points, the workload slowest.
    pub fn get(&self, index: usize) -> Config {
        let n = self.samples.len();
        let (rest, s) = (index / n, index % n);
        let (rest, runtime) = (rest / self.runtimes, rest % self.runtimes);
        let (workload, hardware) = (rest / self.hardware, rest % self.hardware);
        Config { index, workload, hardware, runtime, values: self.samples.get(s) }
    }
}

/// The part `shard` (0-based) of `count` equal contiguous parts of `n` items. The products are taken in
/// 128 bits: `--shard` accepts any count, and `shard * n` in 64 bits wraps for counts past 10^11.
pub fn shard_range(n: usize, shard: usize, count: usize) -> std::ops::Range<usize> {
    let at = |k: usize| (k as u128 * n as u128 / count as u128) as usize;
    at(shard)..at(shard + 1)
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
    Sources::open(spec)?.run(spec, configs, progress)
}

/// Configurations evaluated at a time by [`stream`] (at least; more on many cores): large enough to keep
/// every thread busy and share each built workload and hardware among many rows, small enough that a chunk's
/// rows take a few megabytes.
pub const CHUNK: usize = 4096;

/// Evaluates the configurations `range` of the spec, in chunks evaluated in parallel, and hands each chunk
/// to `sink` as soon as it is done, in configuration order: its rows and their CSV records (preceded by the
/// header, alone in a first call, when `with_header`). Memory stays bounded whatever the range's size. The
/// records concatenate to exactly [`to_csv`] of all the rows. `progress` is called with the number of
/// finished configurations of the range (from worker threads).
pub fn stream(
    spec: &SweepSpec,
    range: std::ops::Range<usize>,
    with_header: bool,
    progress: &(dyn Fn(usize) + Sync),
    sink: &mut dyn FnMut(&[Row], &str) -> Result<()>,
) -> Result<()> {
    let mut sources = Sources::open(spec)?;
    let configs = Configurations::new(spec);
    if with_header {
        sink(&[], &to_csv(spec, &[], true)?)?;
    }
    let chunk = CHUNK.max(rayon::current_num_threads() * 256);
    let mut start = range.start;
    while start < range.end {
        let end = (start + chunk).min(range.end);
        let batch: Vec<Config> = (start..end).map(|i| configs.get(i)).collect();
        let before = start - range.start;
        let rows = sources.run(spec, &batch, &|done| progress(before + done))?;
        sink(&rows, &to_csv(spec, &rows, false)?)?;
        start = end;
    }
    Ok(())
}

/// A built workload or hardware description, or why it could not be built.
type Built<T> = std::result::Result<T, String>;

/// Most built hardware descriptions and workloads kept from one chunk to the next: a grid repeats the same
/// hardware under every batch size, so keeping them saves rebuilding one per configuration, while the bound
/// keeps memory from growing with the sweep. A chunk needs at most [`CHUNK`] hardware descriptions (about 5
/// KB each: 20 MB); a workload takes up to megabytes (TransFuser's 2,000 ops), so fewer of them are kept.
const KEEP_HARDWARE: usize = CHUNK;
const KEEP_WORKLOADS: usize = 64;

/// The spec's workload and hardware files, parsed once for the whole sweep, and the workloads and hardware
/// built from them so far (at most `KEEP_*` of each beyond those of the current chunk).
struct Sources {
    workloads: Vec<WorkloadSource>,
    hardware: Vec<HardwareSource>,
    built_workloads: HashMap<String, Built<(Workload, WorkloadFacts)>>,
    built_hardware: HashMap<String, Built<Hardware>>,
}

impl Sources {
    /// A missing workload or hardware is an error before any work.
    fn open(spec: &SweepSpec) -> Result<Self> {
        Ok(Sources {
            workloads: spec.workloads.iter().map(|w| WorkloadSource::open(w)).collect::<Result<_>>()?,
            hardware: spec.hardware.iter().map(|h| HardwareSource::open(h)).collect::<Result<_>>()?,
            built_workloads: HashMap::new(),
            built_hardware: HashMap::new(),
        })
    }

    /// Evaluates `configs` in parallel, building each distinct workload and hardware among them once (or
    /// reusing one built for an earlier chunk).
    fn run(&mut self, spec: &SweepSpec, configs: &[Config], progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Row>> {
        let settings: Vec<Settings> = configs.iter().map(|c| settings(spec, c)).collect();
        let (wsources, hsources) = (&self.workloads, &self.hardware);
        build_missing(&mut self.built_workloads, KEEP_WORKLOADS, &settings, |s| &s.workload_key, |i| {
            wsources[configs[i].workload].build(&settings[i].workload).map(|w| {
                let f = WorkloadFacts::new(&w);
                (w, f)
            })
        });
        build_missing(&mut self.built_hardware, KEEP_HARDWARE, &settings, |s| &s.hardware_key, |i| hsources[configs[i].hardware].build(&settings[i].hardware));

        let (workloads, hardware) = (&self.built_workloads, &self.built_hardware);
        let done = AtomicUsize::new(0);
        let rows = configs
            .par_iter()
            .zip(settings.par_iter())
            .map(|(c, s)| {
                let r = evaluate(spec, c, s, workloads, hardware);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                r
            })
            .collect();
        Ok(rows)
    }
}

/// Builds (in parallel) the entries of `built` that `settings` need and it lacks; `build(i)` builds the one
/// of `settings[i]`. When that would pass `keep` entries, those the current settings do not need go first.
fn build_missing<T: Send>(
    built: &mut HashMap<String, Built<T>>,
    keep: usize,
    settings: &[Settings],
    key: impl Fn(&Settings) -> &String,
    build: impl Fn(usize) -> Result<T> + Sync,
) {
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<(&String, usize)> =
        settings.iter().enumerate().filter(|(_, s)| !built.contains_key(key(s)) && seen.insert(key(s))).map(|(i, s)| (key(s), i)).collect();
    if built.len() + missing.len() > keep {
        let needed: std::collections::HashSet<&String> = settings.iter().map(&key).collect();
        built.retain(|k, _| needed.contains(k));
    }
    let new: Vec<(String, Built<T>)> = missing.par_iter().map(|&(k, i)| (k.clone(), build(i).map_err(|e| e.to_string()))).collect();
    built.extend(new);
}

#[allow(clippy::type_complexity)]
fn evaluate(
    spec: &SweepSpec,
    c: &Config,
    s: &Settings,
    workloads: &HashMap<String, Built<(Workload, WorkloadFacts)>>,
    hardware: &HashMap<String, Built<Hardware>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards partition the configurations exactly, also when `shard * n` does not fit in 64 bits.
    #[test]
    fn shards_partition_without_overflow() {
        let n = 100_000_000;
        let count = 1_000_000_000_000;
        let last = shard_range(n, count - 1, count);
        assert_eq!(last.end, n);
        assert!(last.start <= last.end && last.start >= n - 1);
        let parts: Vec<_> = (0..7).map(|s| shard_range(10, s, 7)).collect();
        assert_eq!(parts.first().unwrap().start, 0);
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(parts.last().unwrap().end, 10);
    }

    /// Configuration `i` made on demand is the `i`-th of the nested loops (workload, hardware, runtime, then the
    /// sampled points, first axis slowest), for a grid and a sample.
    #[test]
    fn configurations_on_demand_follow_the_nested_loops() {
        for sample in ["grid", "{random: 7, seed: 2}", "{latin_hypercube: 5, seed: 4}"] {
            let text = format!(
                "name: t\nworkloads: [av-mnist, cmu-mosei]\nhardware: [a100, h100, v100]\nruntime: [eager, cuda_graph]\naxes:\n  batch: [1, 2, 3]\n  gpu.mem_bw_gbs: {{range: [100, 400], steps: 4}}\nsample: {sample}\n"
            );
            let spec = SweepSpec::parse("t.yaml", &text).unwrap();
            let samples = sample::configurations(&spec.axes, spec.sampling);
            let mut want = Vec::new();
            for w in 0..2 {
                for h in 0..3 {
                    for r in 0..2 {
                        for s in &samples {
                            want.push(Config { index: want.len(), workload: w, hardware: h, runtime: r, values: s.clone() });
                        }
                    }
                }
            }
            let c = Configurations::new(&spec);
            assert_eq!(c.len(), spec.count().unwrap());
            assert_eq!((0..c.len()).map(|i| c.get(i)).collect::<Vec<_>>(), want, "{sample}");
            assert_eq!(configurations(&spec), want);
        }
    }
}
