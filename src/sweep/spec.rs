//! The sweep specification (YAML): workloads, base hardware, parameter axes, how to sample them, the metrics
//! to record and the Pareto objectives. Everything is checked here, before any prediction runs.
//!
//! ```yaml
//! name: bandwidth-x-batch
//! workloads: [av-mnist, cmu-mosei]          # built-in names or files
//! hardware: [a100]                           # presets or files; several make an axis
//! runtime: eager                             # optional; a list makes an axis
//! axes:                                      # in order; the first varies slowest in a grid
//!   batch: [1, 8, 32]                        # a list of values
//!   gpu.mem_bw_gbs: {log_range: [400, 6400], steps: 5}
//!   gpu.peak_tflops.fp32: {range: [10, 80], steps: 8}
//!   gpu.compute_units: {scale: [0.5, 1, 2]}  # multiples of the base value
//!   place.audio: [gpu, cpu]                  # placement of a branch
//!   variant: [default, tensor_matrix]        # workload variants (`default`: none)
//! sample: grid                               # or {random: 1000, seed: 7} or {latin_hypercube: 1000, seed: 7}
//! metrics: [latency_ms, throughput_sps]      # default: all (see `Metric`)
//! pareto: {minimize: [latency_ms, tdp_w]}
//! ```

use super::metrics::Metric;
use crate::error::Result;
use crate::yaml::{self, Document};
use serde::Deserialize;
use serde_yaml::Value;

/// One value of an axis, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisValue {
    /// A number or string assigned to the field.
    Set(Value),
    /// A multiple of the base value.
    Scale(f64),
}

impl AxisValue {
    /// The value as written in the output CSV.
    pub fn text(&self) -> String {
        match self {
            AxisValue::Set(Value::String(s)) => s.clone(),
            AxisValue::Set(Value::Number(n)) => n.to_string(),
            AxisValue::Set(Value::Bool(b)) => b.to_string(),
            AxisValue::Set(Value::Null) => String::new(),
            AxisValue::Set(other) => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
            AxisValue::Scale(f) => format!("x{f}"),
        }
    }
}

/// The values an axis takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// Explicit values.
    List(Vec<AxisValue>),
    /// `lo..=hi`, linear; `steps` points in a grid, continuous when sampled.
    Linear { lo: f64, hi: f64, steps: Option<usize>, integer: bool },
    /// `lo..=hi`, geometric.
    Log { lo: f64, hi: f64, steps: Option<usize>, integer: bool },
}

/// One axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub domain: Domain,
}

/// How configurations are drawn from the axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    Grid,
    Random { samples: usize, seed: u64 },
    LatinHypercube { samples: usize, seed: u64 },
}

/// Pareto objectives.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pareto {
    #[serde(default)]
    pub minimize: Vec<String>,
    #[serde(default)]
    pub maximize: Vec<String>,
}

/// A checked sweep specification.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub name: String,
    pub workloads: Vec<String>,
    pub hardware: Vec<String>,
    pub runtimes: Vec<Option<String>>,
    pub axes: Vec<Axis>,
    pub sampling: Sampling,
    pub metrics: Vec<Metric>,
    pub pareto: Option<Pareto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    workloads: NameOrNames,
    hardware: NameOrNames,
    #[serde(default)]
    runtime: Option<NameOrNames>,
    #[serde(default)]
    axes: serde_yaml::Mapping,
    #[serde(default)]
    sample: Option<Value>,
    #[serde(default)]
    metrics: Option<Vec<String>>,
    #[serde(default)]
    pareto: Option<Pareto>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrNames {
    One(String),
    Many(Vec<String>),
}

impl NameOrNames {
    fn into_vec(self) -> Vec<String> {
        match self {
            NameOrNames::One(s) => vec![s],
            NameOrNames::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    #[serde(default)]
    range: Option<[f64; 2]>,
    #[serde(default)]
    log_range: Option<[f64; 2]>,
    #[serde(default)]
    scale: Option<Vec<f64>>,
    #[serde(default)]
    steps: Option<usize>,
    /// Round sampled values to integers (compute units, batch sizes).
    #[serde(default)]
    integer: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleSpec {
    #[serde(default)]
    random: Option<usize>,
    #[serde(default)]
    latin_hypercube: Option<usize>,
    #[serde(default)]
    seed: u64,
}

impl SweepSpec {
    /// Reads and checks a spec file.
    pub fn load(path: &str) -> Result<Self> {
        let text = crate::input::read_text(std::path::Path::new(path))?;
        Self::parse(path, &text)
    }

    /// Parses and checks a spec; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let doc = Document::parse(file, text)?;
        let f: SpecFile = yaml::decode(&doc, "", &doc.value)?;
        let workloads = f.workloads.into_vec();
        if workloads.is_empty() {
            return Err(doc.error("workloads", "list at least one workload"));
        }
        let hardware = f.hardware.into_vec();
        if hardware.is_empty() {
            return Err(doc.error("hardware", "list at least one hardware description"));
        }
        let runtimes = match f.runtime {
            None => vec![None],
            Some(r) => {
                let v = r.into_vec();
                if v.is_empty() {
                    return Err(doc.error("runtime", "the runtime list is empty"));
                }
                v.into_iter().map(Some).collect()
            }
        };
        let mut axes = Vec::new();
        for (k, v) in &f.axes {
            let Some(key) = k.as_str() else { return Err(doc.error("axes", "axis names are strings")) };
            let path = format!("axes.{key}");
            if key == "hardware" || key == "runtime" || key == "workload" {
                return Err(doc.error(&path, format!("`{key}` is set by the top-level `{key}` list, not by an axis")));
            }
            if let Some(branch) = key.strip_prefix("place.")
                && branch.is_empty() {
                    return Err(doc.error(&path, "`place.` needs a branch name (`place.audio`)"));
                }
            axes.push(Axis { key: key.to_string(), domain: domain(&doc, &path, v)? });
        }
        let sampling = match &f.sample {
            None => Sampling::Grid,
            Some(Value::String(s)) if s == "grid" => Sampling::Grid,
            Some(v @ Value::Mapping(_)) => {
                let s: SampleSpec = yaml::decode(&doc, "sample", v)?;
                let seed = s.seed;
                let (samples, lhs) = match (s.random, s.latin_hypercube) {
                    (Some(n), None) => (n, false),
                    (None, Some(n)) => (n, true),
                    _ => return Err(doc.error("sample", "give exactly one of `random: N` or `latin_hypercube: N`")),
                };
                if samples == 0 || samples > 10_000_000 {
                    return Err(doc.error("sample", format!("the number of samples must be between 1 and 10,000,000, got {samples}")));
                }
                if lhs { Sampling::LatinHypercube { samples, seed } } else { Sampling::Random { samples, seed } }
            }
            Some(_) => return Err(doc.error("sample", "`grid`, `{random: N, seed: S}` or `{latin_hypercube: N, seed: S}`")),
        };
        if sampling == Sampling::Grid {
            for a in &axes {
                if matches!(a.domain, Domain::Linear { steps: None, .. } | Domain::Log { steps: None, .. }) {
                    return Err(doc.error(&format!("axes.{}", a.key), "a range in a grid needs `steps`"));
                }
            }
        }
        let metrics = match f.metrics {
            None => Metric::ALL.to_vec(),
            Some(names) => {
                if names.is_empty() {
                    return Err(doc.error("metrics", "the metric list is empty (leave it out to record all)"));
                }
                let mut out = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    out.push(Metric::from_name(n).ok_or_else(|| {
                        let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                        doc.error(&format!("metrics[{i}]"), format!("unknown metric `{n}`; metrics: {}", known.join(", ")))
                    })?);
                }
                out
            }
        };
        if let Some(p) = &f.pareto {
            if p.minimize.len() + p.maximize.len() < 2 {
                return Err(doc.error("pareto", "a Pareto front needs at least two objectives"));
            }
            for (i, o) in p.minimize.iter().map(|o| ("minimize", o)).chain(p.maximize.iter().map(|o| ("maximize", o))).enumerate() {
                let m = Metric::from_name(o.1).filter(|m| m.is_numeric());
                if m.is_none() {
                    return Err(doc.error(&format!("pareto.{}", o.0), format!("objective {i} `{}` is not a numeric metric", o.1)));
                }
                if !metrics.contains(&m.unwrap()) {
                    return Err(doc.error(&format!("pareto.{}", o.0), format!("objective `{}` is not among the recorded metrics", o.1)));
                }
            }
        }
        let spec = SweepSpec { name: f.name, workloads, hardware, runtimes, axes, sampling, metrics, pareto: f.pareto };
        spec.count().map_err(|m| doc.error(if spec.sampling == Sampling::Grid { "axes" } else { "sample" }, m))?;
        Ok(spec)
    }

    /// How many configurations the spec makes (workloads × hardware × runtimes × sampled points), counted
    /// without building them and with checked arithmetic; past [`MAX_CONFIGURATIONS`] the message names the
    /// sizes of the lists and axes that multiply to it.
    pub fn count(&self) -> std::result::Result<usize, String> {
        let mut factors: Vec<(String, usize)> =
            vec![("workloads".into(), self.workloads.len()), ("hardware".into(), self.hardware.len()), ("runtimes".into(), self.runtimes.len())];
        match self.sampling {
            Sampling::Grid => {
                for a in &self.axes {
                    factors.push((format!("axes.{}", a.key), grid_points(&a.domain)?));
                }
            }
            Sampling::Random { samples, .. } | Sampling::LatinHypercube { samples, .. } => factors.push(("samples".into(), samples)),
        }
        let total = factors.iter().try_fold(1usize, |acc, (_, n)| acc.checked_mul(*n));
        match total {
            Some(n) if n <= MAX_CONFIGURATIONS => Ok(n),
            _ => {
                let sizes: Vec<String> = factors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                let product = factors.iter().fold(1f64, |acc, (_, n)| acc * *n as f64);
                Err(format!(
                    "the sweep has {product:.3e} configurations, more than the {MAX_CONFIGURATIONS} a sweep may have ({}); use fewer steps, or `sample: {{random: N}}`",
                    sizes.join(", ")
                ))
            }
        }
    }
}

/// Most configurations one sweep may have: far beyond a design-space study (a 10 × 10 × 10 grid over ten
/// workloads is ten thousand), and small enough to be counted, generated and written.
pub const MAX_CONFIGURATIONS: usize = 100_000_000;

/// The grid points of an axis, counted without building a list longer than [`MAX_CONFIGURATIONS`] (a range's
/// `steps` beyond that is refused as it stands; within it, equal points after rounding count once).
fn grid_points(d: &Domain) -> std::result::Result<usize, String> {
    match d {
        Domain::Linear { steps: Some(n), .. } | Domain::Log { steps: Some(n), .. } if *n > MAX_CONFIGURATIONS => {
            Err(format!("an axis of {n} steps is more than the {MAX_CONFIGURATIONS} configurations a sweep may have"))
        }
        _ => Ok(super::sample::points(d).len()),
    }
}

fn domain(doc: &Document, path: &str, v: &Value) -> Result<Domain> {
    match v {
        Value::Sequence(items) => {
            if items.is_empty() {
                return Err(doc.error(path, "the axis is empty"));
            }
            for (i, it) in items.iter().enumerate() {
                if it.is_mapping() || it.is_sequence() {
                    return Err(doc.error(&format!("{path}[{i}]"), "axis values are numbers or strings"));
                }
            }
            Ok(Domain::List(items.iter().cloned().map(AxisValue::Set).collect()))
        }
        Value::Mapping(_) => {
            let r: RangeSpec = yaml::decode(doc, path, v)?;
            let forms = [r.range.is_some(), r.log_range.is_some(), r.scale.is_some()].iter().filter(|&&b| b).count();
            if forms != 1 {
                return Err(doc.error(path, "give exactly one of `range`, `log_range`, `scale` (or a list)"));
            }
            if let Some(s) = r.steps
                && s == 0 {
                    return Err(doc.error(&format!("{path}.steps"), "steps must be at least 1"));
                }
            if let Some(scale) = r.scale {
                if scale.is_empty() {
                    return Err(doc.error(&format!("{path}.scale"), "the axis is empty"));
                }
                if scale.iter().any(|f| !f.is_finite()) {
                    return Err(doc.error(&format!("{path}.scale"), "scale factors must be finite"));
                }
                return Ok(Domain::List(scale.into_iter().map(AxisValue::Scale).collect()));
            }
            let (lo, hi, log) = match (r.range, r.log_range) {
                (Some([a, b]), _) => (a, b, false),
                (_, Some([a, b])) => (a, b, true),
                _ => unreachable!(),
            };
            let field = if log { "log_range" } else { "range" };
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(doc.error(&format!("{path}.{field}"), "bounds must be finite"));
            }
            if lo > hi {
                return Err(doc.error(&format!("{path}.{field}"), format!("inverted range: {lo} > {hi}")));
            }
            if log && lo <= 0.0 {
                return Err(doc.error(&format!("{path}.{field}"), format!("a log range needs positive bounds, got {lo}")));
            }
            Ok(if log {
                Domain::Log { lo, hi, steps: r.steps, integer: r.integer }
            } else {
                Domain::Linear { lo, hi, steps: r.steps, integer: r.integer }
            })
        }
        _ => Err(doc.error(path, "an axis is a list of values or a mapping with `range`, `log_range` or `scale`")),
    }
}
