//! The YAML workload format and its loader. Two forms mix freely in one file:
//!
//! * per-modality sequential sections — `modalities.<name>.input` and `.encoder` (a list of ops and blocks),
//!   then `fusion` (whose first item receives every modality's output) and `head`;
//! * explicit named nodes in `nodes:` with `inputs:`, for any DAG (multi-point fusion, skip connections).
//!
//! An item is an op or block name (`- relu`) or a one-layer mapping (`- conv2d: {out: 6, kernel: 5}`) with
//! optional reserved keys `name`, `inputs`, `stage`, `modality`, `device`, `repeat`, `share`. `inputs` names other
//! items (by name, `prev`, a modality name for its encoder output, `fusion` or `head`). Blocks with the same
//! `share:` value are one module called several times (a CNN run on chunks of frames): parameters count once,
//! work every call. `params:` defines values that any field can use as `${name}` (`${batch}` always exists), or
//! in integer arithmetic (`+`, `-`, `*`, integer `/`) such as `"${vocab} + 1"`; `variants:` holds named partial
//! documents that `--set variant=NAME` (or `--set fusion=NAME`) merges over the file. See the README for the full
//! schema.

use super::blocks::{self, Block};
use super::builder::{BuildError, GraphBuilder};
use super::op::{Op, OP_NAMES};
use super::ops::Input;
use super::tensor::DType;
use super::workload::{Stage, Workload};
use crate::error::{Error, Location, Result};
use crate::yaml::{self, apply_set, deep_merge, join_path, Document, SetOp};
use petgraph::graph::NodeIndex;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// How to load a workload: batch override and `--set` overrides.
#[derive(Debug, Clone, Default)]
pub struct WorkloadOptions {
    pub batch: Option<usize>,
    pub sets: Vec<(String, SetOp)>,
    /// Scale the workload's `scalable:` size parameters by this factor (reduced sizes for quick runs).
    pub scale: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: String,
    #[serde(default)]
    description: String,
    /// Where the description comes from (e.g. `WORKLOADS.md §3`).
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    batch: usize,
    #[serde(default)]
    #[allow(dead_code)]
    params: Value,
    #[serde(default)]
    modalities: serde_yaml::Mapping,
    #[serde(default)]
    fusion: Vec<Value>,
    #[serde(default)]
    head: Vec<Value>,
    #[serde(default)]
    nodes: Vec<Value>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    variants: Value,
    #[serde(default)]
    #[allow(dead_code)]
    variant: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    scalable: Value,
}

/// How a size parameter follows `--scale`: `scalable: {image: {multiple_of: 32, min: 32}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scalable {
    #[serde(default = "one_u64")]
    multiple_of: u64,
    #[serde(default = "one_u64")]
    min: u64,
}

fn one_u64() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModalityFile {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    input: InputDecl,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    encoder: Vec<Value>,
}

/// `input: [1, 28, 28]` or `input: {shape: [15], dtype: i64, batch_axis: 0}` (per-sample shape; the batch
/// axis is inserted at `batch_axis`, or not at all with `batched: false`).
#[derive(Deserialize)]
#[serde(untagged)]
enum InputDecl {
    Shape(Vec<usize>),
    Full(InputFull),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFull {
    shape: Vec<usize>,
    #[serde(default)]
    dtype: DType,
    #[serde(default)]
    batch_axis: usize,
    /// Whether the tensor has a batch axis (MMBench's Customization feeds text as `[n_chars, 1]` whatever
    /// the batch).
    #[serde(default = "yes")]
    batched: bool,
}

fn yes() -> bool {
    true
}

impl InputFull {
    fn check(&self, doc: &Document, path: &str) -> Result<()> {
        if self.batch_axis > self.shape.len() {
            return Err(doc.error(&join_path(path, "batch_axis"), "batch_axis is beyond the shape"));
        }
        Ok(())
    }
}

impl InputDecl {
    fn into_full(self) -> InputFull {
        match self {
            InputDecl::Shape(shape) => InputFull { shape, dtype: DType::F32, batch_axis: 0, batched: true },
            InputDecl::Full(f) => f,
        }
    }
}

const RESERVED: &[&str] = &["name", "inputs", "stage", "modality", "device", "repeat", "share"];

/// What an item computes.
enum Layer {
    Op(Op),
    Block(Box<dyn Block>),
    Input(InputFull),
}

/// Where an item takes its inputs from, before resolution.
enum Wiring {
    /// Named references (`inputs:`), each with its field path.
    Named(Vec<String>),
    /// The item before it in its list.
    Prev,
    /// The outputs of all modalities (the first fusion item).
    AllModalities,
    /// The fusion section's output (the first head item).
    FusionOutput,
    /// Nothing (inputs and weights).
    None,
}

struct Item {
    /// Field path of the item in the document (for error locations).
    path: String,
    name: String,
    layer: Layer,
    layer_name: String,
    stage: Stage,
    modality: Option<String>,
    device: Option<String>,
    repeat: usize,
    /// Weight group shared with the other blocks that name it (`share:`).
    share: Option<String>,
    wiring: Wiring,
    /// Resolved producer items.
    deps: Vec<usize>,
}

/// Loads a workload from a file path or a built-in name (`av-mnist`).
pub fn load_workload(arg: &str, opts: &WorkloadOptions) -> Result<Workload> {
    WorkloadSource::open(arg)?.build(opts)
}

/// Parses a workload from YAML text; `file` names it in errors.
pub fn parse_workload(file: &str, text: &str, opts: &WorkloadOptions) -> Result<Workload> {
    WorkloadSource::parse(file, text)?.build(opts)
}

/// A workload file read and parsed once, ready to be built with different options many times.
#[derive(Debug, Clone)]
pub struct WorkloadSource {
    doc: Document,
}

impl WorkloadSource {
    /// Reads a built-in workload or a file.
    pub fn open(arg: &str) -> Result<Self> {
        if let Some(text) = super::builtin::workload_text(arg) {
            return Self::parse(&format!("graphs/{arg}.yaml"), text);
        }
        let path = std::path::Path::new(arg);
        if !path.exists() && !arg.contains('/') && !arg.ends_with(".yaml") && !arg.ends_with(".yml") {
            return Err(Error::unknown("workload", arg, super::builtin::workload_names()));
        }
        let text = crate::input::read_text(path)?;
        Self::parse(arg, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let doc = Document::parse(file, text)?;
        if !doc.value.is_mapping() {
            return Err(Error::input(Location::file(file), "a workload file must be a YAML mapping"));
        }
        Ok(WorkloadSource { doc })
    }

    /// The workload graph with these options applied.
    pub fn build(&self, opts: &WorkloadOptions) -> Result<Workload> {
        build_from(self.doc.clone(), opts)
    }
}

fn build_from(mut doc: Document, opts: &WorkloadOptions) -> Result<Workload> {
    apply_overrides(&mut doc, opts)?;
    super::compose::expand(&mut doc)?;
    let wf: WorkloadFile = yaml::decode(&doc, "", &doc.value)?;
    let batch = wf.batch;
    if batch == 0 || batch > 1 << 20 {
        return Err(doc.error("batch", format!("batch must be between 1 and {}, got {batch}", 1 << 20)));
    }
    Loader { doc: &doc, batch, items: Vec::new(), by_name: HashMap::new(), modality_out: BTreeMap::new() }.load(wf)
}

/// Applies `--batch`, variant selection and `--set` overrides to the document, then substitutes `${param}`.
fn apply_overrides(doc: &mut Document, opts: &WorkloadOptions) -> Result<()> {
    let set_err = |key: &str, m: String| Error::input(Location::file(&doc.file).field(key), m);
    let mut sets = opts.sets.clone();
    if let Some(b) = opts.batch {
        sets.push(("batch".into(), SetOp::Assign(Value::from(b as u64))));
    }
    for (key, op) in &sets {
        // `variant=NAME`, or `fusion=NAME` / `head=NAME` naming a variant, merges that variant.
        let variant_name = match (key.as_str(), op) {
            ("variant", SetOp::Assign(Value::String(v))) => Some(v.clone()),
            ("fusion" | "head", SetOp::Assign(Value::String(v))) => Some(v.clone()),
            ("variant", _) => return Err(set_err(key, "`variant` takes a variant name".into())),
            _ => None,
        };
        if let Some(v) = variant_name {
            let variants = doc.value.get("variants").and_then(Value::as_mapping).cloned().unwrap_or_default();
            // `fusion=NAME` may also name a fusion op or block, applied with its defaults to every modality.
            if key != "variant" && variants.get(Value::String(v.clone())).is_none() && is_layer_name(&v) {
                apply_set(&mut doc.value, key, &SetOp::Assign(Value::Sequence(vec![Value::String(v)]))).map_err(|m| set_err(key, m))?;
                continue;
            }
            let Some(over) = variants.get(Value::String(v.clone())) else {
                let known: Vec<String> = variants.keys().filter_map(|k| k.as_str().map(str::to_string)).collect();
                let known = if known.is_empty() { "this workload defines none".to_string() } else { known.join(", ") };
                return Err(set_err(key, format!("unknown variant `{v}`; variants: {known}")));
            };
            let over = over.clone();
            deep_merge(&mut doc.value, &over);
            continue;
        }
        apply_set(&mut doc.value, key, op).map_err(|m| set_err(key, m))?;
    }
    if let Some(f) = opts.scale {
        apply_scale(doc, f)?;
    }
    // ${name} substitution from `params` (and `batch`).
    let mut params: HashMap<String, Value> = HashMap::new();
    if let Some(p) = doc.value.get("params") {
        let Some(map) = p.as_mapping() else { return Err(doc.error("params", "`params` must be a mapping")) };
        for (k, v) in map {
            if let Some(k) = k.as_str() {
                params.insert(k.to_string(), v.clone());
            }
        }
    }
    if let Some(b) = doc.value.get("batch") {
        params.insert("batch".into(), b.clone());
    }
    let params = resolve_params(&params, doc)?;
    let mut value = doc.value.clone();
    substitute(&mut value, &params, "", doc)?;
    doc.value = value;
    Ok(())
}

/// Scales every parameter listed under `scalable:` by `f`, rounded to its multiple and at least its minimum.
fn apply_scale(doc: &mut Document, f: f64) -> Result<()> {
    if !(f > 0.0 && f <= 16.0) {
        return Err(Error::input(Location::file(&doc.file).field("--scale"), format!("the scale must be in (0, 16], got {f}")));
    }
    let Some(map) = doc.value.get("scalable").cloned() else {
        return Err(doc.error("", "this workload declares no `scalable:` parameters, so it cannot be scaled"));
    };
    let Some(map) = map.as_mapping() else { return Err(doc.error("scalable", "`scalable` maps parameter names to {multiple_of, min}")) };
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_string();
        let field = format!("scalable.{name}");
        let empty = Value::Mapping(Default::default());
        let rule: Scalable = yaml::decode(doc, &field, if v.is_null() { &empty } else { v })?;
        if rule.multiple_of == 0 {
            return Err(doc.error(&format!("{field}.multiple_of"), "must be at least 1"));
        }
        let Some(cur) = doc.value.get("params").and_then(|p| p.get(&name)).and_then(Value::as_u64) else {
            return Err(doc.error(&field, format!("`{name}` is not an integer in `params`")));
        };
        let scaled = ((cur as f64 * f / rule.multiple_of as f64).round() as u64 * rule.multiple_of).max(rule.min);
        apply_set(&mut doc.value, &format!("params.{name}"), &SetOp::Assign(Value::from(scaled))).map_err(|m| doc.error(&field, m))?;
    }
    Ok(())
}

/// Whether `name` is an op or block (so `--set fusion=tensor_fusion` can name one).
fn is_layer_name(name: &str) -> bool {
    OP_NAMES.contains(&name) || blocks::block_names().any(|b| b == name)
}

/// Parameters may refer to other parameters (`hidden: "${width} * 4"`): each is substituted after those it
/// names. A cycle is an error at its first parameter that names every parameter on it, in order.
fn resolve_params(params: &HashMap<String, Value>, doc: &Document) -> Result<HashMap<String, Value>> {
    let mut names: Vec<&String> = params.keys().collect();
    names.sort();
    let mut done = HashMap::new();
    for name in names {
        resolve_param(name, params, &mut done, &mut Vec::new(), doc)?;
    }
    Ok(done)
}

fn resolve_param(name: &str, params: &HashMap<String, Value>, done: &mut HashMap<String, Value>, stack: &mut Vec<String>, doc: &Document) -> Result<()> {
    if done.contains_key(name) {
        return Ok(());
    }
    if let Some(first) = stack.iter().position(|n| n == name) {
        let cycle: Vec<String> = stack[first..].iter().map(String::as_str).chain([name]).map(|n| format!("`{n}`")).collect();
        return Err(doc.error(&format!("params.{}", stack[first]), format!("parameters refer to each other in a cycle: {}", cycle.join(" -> "))));
    }
    let mut value = params[name].clone();
    stack.push(name.to_string());
    for r in references(&value) {
        if params.contains_key(&r) {
            resolve_param(&r, params, done, stack, doc)?;
        }
    }
    stack.pop();
    // Every parameter it names is resolved now; an unknown one is reported by `substitute` with the list.
    let mut known = params.clone();
    known.extend(done.iter().map(|(k, v)| (k.clone(), v.clone())));
    substitute(&mut value, &known, &format!("params.{name}"), doc)?;
    done.insert(name.to_string(), value);
    Ok(())
}

/// The parameter names `${name}` inside a value, in order.
fn references(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split("${").skip(1).filter_map(|r| r.split_once('}')).map(|(n, _)| n.to_string()).collect(),
        Value::Sequence(seq) => seq.iter().flat_map(references).collect(),
        Value::Mapping(m) => m.values().flat_map(references).collect(),
        _ => vec![],
    }
}

fn substitute(v: &mut Value, params: &HashMap<String, Value>, path: &str, doc: &Document) -> Result<()> {
    match v {
        Value::String(s) if s.contains("${") => {
            let lookup = |name: &str| {
                params.get(name).cloned().ok_or_else(|| {
                    let mut known: Vec<&String> = params.keys().collect();
                    known.sort();
                    let known: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
                    format!("unknown parameter `${{{name}}}`; params: {}", known.join(", "))
                })
            };
            let whole = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).filter(|n| !n.contains(['{', '}', '$']));
            let value = match whole {
                Some(name) => Some(lookup(name)),
                None => evaluate(s, &lookup).map(|r| r.map(Value::from)),
            };
            if let Some(value) = value {
                *v = value.map_err(|m| doc.error(path, m))?;
            }
        }
        Value::Sequence(seq) => {
            for (i, x) in seq.iter_mut().enumerate() {
                substitute(x, params, &format!("{path}[{i}]"), doc)?;
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                if path.is_empty() && (key == "params" || key == "variants") {
                    continue;
                }
                substitute(x, params, &join_path(path, key), doc)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Integer arithmetic over parameters, e.g. `"${vocab} + 1"` (an embedding with a padding row) or
/// `"${volume} / 16"` (a token grid that follows a scaled volume): integers and `${name}` joined by `+`, `-`, `*`
/// and `/`, multiplication and division first and left to right (`"${side} * 5 / 8"` multiplies, then divides).
/// `/` is integer division, rounding toward zero; dividing by zero is an error. `None` when `s` is not such an
/// expression (it is then left as text).
fn evaluate(s: &str, lookup: &dyn Fn(&str) -> std::result::Result<Value, String>) -> Option<std::result::Result<i64, String>> {
    enum Tok {
        Num(i64),
        Param(String),
        Op(char),
    }
    let mut toks = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("${") {
            let end = r.find('}')?;
            toks.push(Tok::Param(r[..end].to_string()));
            rest = &r[end + 1..];
        } else if let Some(c) = rest.chars().next().filter(|c| matches!(c, '+' | '-' | '*' | '/')) {
            toks.push(Tok::Op(c));
            rest = &rest[1..];
        } else {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            toks.push(Tok::Num(rest[..end].parse().ok()?));
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    // Operands and operators must alternate, starting and ending with an operand.
    let well_formed = toks.len() % 2 == 1 && toks.iter().enumerate().all(|(i, t)| matches!(t, Tok::Op(_)) == (i % 2 == 1));
    if !well_formed {
        return None;
    }
    let value = |t: &Tok| -> std::result::Result<i64, String> {
        match t {
            Tok::Num(n) => Ok(*n),
            Tok::Param(name) => lookup(name)?.as_i64().ok_or_else(|| format!("`${{{name}}}` in `{s}` is not an integer")),
            Tok::Op(_) => unreachable!("operands sit at even positions"),
        }
    };
    let overflow = || format!("`{s}` overflows");
    let eval = || -> std::result::Result<i64, String> {
        // Sum of products: fold each run of `*` and `/` into a term, then add or subtract the terms.
        let (mut sum, mut term, mut sign) = (0i64, value(&toks[0])?, 1i64);
        for pair in toks[1..].chunks(2) {
            let (Tok::Op(op), x) = (&pair[0], value(&pair[1])?) else { unreachable!("operators sit at odd positions") };
            if *op == '*' {
                term = term.checked_mul(x).ok_or_else(overflow)?;
            } else if *op == '/' {
                if x == 0 {
                    return Err(format!("`{s}` divides by zero"));
                }
                term = term.checked_div(x).ok_or_else(overflow)?;
            } else {
                sum = sum.checked_add(sign * term).ok_or_else(overflow)?;
                (term, sign) = (x, if *op == '+' { 1 } else { -1 });
            }
        }
        sum.checked_add(sign * term).ok_or_else(overflow)
    };
    Some(eval())
}

struct Loader<'a> {
    doc: &'a Document,
    batch: usize,
    items: Vec<Item>,
    by_name: HashMap<String, usize>,
    /// Modality name -> its encoder's last item.
    modality_out: BTreeMap<String, usize>,
}

impl Loader<'_> {
    fn err(&self, path: &str, msg: impl Into<String>) -> Error {
        self.doc.error(path, msg)
    }

    fn load(mut self, wf: WorkloadFile) -> Result<Workload> {
        let mut builder = GraphBuilder::new(self.batch);
        let mut modality_order = Vec::new();
        // 1. Items of every section.
        for (key, value) in &wf.modalities {
            let Some(m) = key.as_str() else { return Err(self.err("modalities", "modality names must be strings")) };
            let mpath = format!("modalities.{m}");
            if m.is_empty() || m.contains(['/', '.']) || m == "prev" || m == "fusion" || m == "head" {
                return Err(self.err(&mpath, format!("`{m}` cannot name a modality (no `/` or `.`, not `prev`, `fusion` or `head`)")));
            }
            builder.modality(m);
            modality_order.push(m.to_string());
            let mf: ModalityFile = yaml::decode(self.doc, &mpath, value)?;
            let input = mf.input.into_full();
            input.check(self.doc, &format!("{mpath}.input"))?;
            let first = self.items.len();
            self.push(Item {
                path: format!("{mpath}.input"),
                name: format!("{m}/input"),
                layer: Layer::Input(input),
                layer_name: "input".into(),
                stage: Stage::Encoder,
                modality: Some(m.to_string()),
                device: None,
                repeat: 1,
                share: None,
                wiring: Wiring::None,
                deps: vec![],
            })?;
            self.section(&mf.encoder, &format!("{mpath}.encoder"), m, Stage::Encoder, Some(m), mf.device.as_deref(), Wiring::Prev)?;
            let last = self.items.len() - 1;
            let _ = first;
            self.modality_out.insert(m.to_string(), last);
        }
        let fusion_first = self.items.len();
        self.section(&wf.fusion, "fusion", "fusion", Stage::Fusion, None, None, Wiring::AllModalities)?;
        let fusion_out = (self.items.len() > fusion_first).then(|| self.items.len() - 1);
        let head_first = self.items.len();
        let head_wiring = if fusion_out.is_some() { Wiring::FusionOutput } else { Wiring::AllModalities };
        self.section(&wf.head, "head", "head", Stage::Head, None, None, head_wiring)?;
        let head_out = (self.items.len() > head_first).then(|| self.items.len() - 1);
        for (i, v) in wf.nodes.iter().enumerate() {
            let path = format!("nodes[{i}]");
            let item = self.parse_item(v, &path, "nodes", None, None, None, Wiring::None, true)?;
            self.push(item)?;
        }
        if self.items.iter().all(|it| matches!(it.layer, Layer::Input(_))) && self.items.len() == modality_order.len() {
            return Err(self.err("", "the workload has no ops: add encoder, fusion, head or nodes items"));
        }

        // 2. Resolve references.
        for idx in 0..self.items.len() {
            let deps = self.resolve(idx, &modality_order, fusion_out, head_out)?;
            self.items[idx].deps = deps;
        }

        // 3. Program order: a topological order that prefers declaration order.
        let order = self.program_order()?;

        // 4. Expand every item through the builder.
        let mut out: Vec<Option<NodeIndex>> = vec![None; self.items.len()];
        for &idx in &order {
            let item = &self.items[idx];
            let inputs: Vec<NodeIndex> = item.deps.iter().map(|&d| out[d].expect("topological order")).collect();
            builder.set_stage(item.stage, item.modality.as_deref());
            builder.set_device(item.device.clone());
            let node = self.expand(&mut builder, item, &inputs).map_err(|e| self.build_error(item, e))?;
            out[idx] = Some(node);
        }

        // 5. Outputs.
        let mut outputs = Vec::new();
        for (i, name) in wf.outputs.iter().enumerate() {
            let idx = self.lookup(name, &modality_order, fusion_out, head_out).ok_or_else(|| {
                self.err(&format!("outputs[{i}]"), format!("`{name}` names no item"))
            })?;
            outputs.push(out[idx].expect("expanded"));
        }
        if outputs.is_empty() {
            let last = head_out.or(fusion_out).unwrap_or(self.items.len() - 1);
            outputs.push(out[last].expect("expanded"));
        }
        Ok(builder.finish(&wf.name, &wf.description, outputs))
    }

    fn push(&mut self, item: Item) -> Result<()> {
        if let Some(&other) = self.by_name.get(&item.name) {
            return Err(self.err(&item.path, format!("the name `{}` is already used by {}", item.name, self.items[other].path)));
        }
        self.by_name.insert(item.name.clone(), self.items.len());
        self.items.push(item);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn section(
        &mut self,
        list: &[Value],
        path: &str,
        prefix: &str,
        stage: Stage,
        modality: Option<&str>,
        device: Option<&str>,
        first: Wiring,
    ) -> Result<()> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut first = Some(first);
        for (i, v) in list.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let wiring = first.take().unwrap_or(Wiring::Prev);
            let mut item = self.parse_item(v, &ipath, prefix, Some(stage), modality, device, wiring, false)?;
            if item.name.is_empty() {
                let c = counts.entry(item.layer_name.clone()).or_insert(0);
                *c += 1;
                item.name = if *c == 1 { format!("{prefix}/{}", item.layer_name) } else { format!("{prefix}/{}_{c}", item.layer_name) };
            }
            self.push(item)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn parse_item(
        &self,
        v: &Value,
        path: &str,
        prefix: &str,
        stage: Option<Stage>,
        modality: Option<&str>,
        device: Option<&str>,
        default_wiring: Wiring,
        explicit: bool,
    ) -> Result<Item> {
        let (layer_name, params, map) = match v {
            Value::String(s) => (s.clone(), Value::Null, None),
            Value::Mapping(m) => {
                let layer_keys: Vec<&str> = m.keys().filter_map(Value::as_str).filter(|k| !RESERVED.contains(k)).collect();
                if m.keys().any(|k| k.as_str().is_none()) {
                    return Err(self.err(path, "keys must be strings"));
                }
                match layer_keys.as_slice() {
                    [one] => (one.to_string(), m[*one].clone(), Some(m)),
                    [] => return Err(self.err(path, format!("names no op or block (only {})", RESERVED.join(", ")))),
                    many => return Err(self.err(path, format!("names several ops or blocks ({}); one item is one layer", many.join(", ")))),
                }
            }
            _ => return Err(self.err(path, "expected an op or block name, or a mapping with one op or block")),
        };
        let lpath = if map.is_some() { join_path(path, &layer_name) } else { path.to_string() };
        let layer = self.parse_layer(&layer_name, &params, &lpath)?;
        let get = |k: &str| map.and_then(|m| m.get(k));
        let field = |k: &str| join_path(path, k);
        let name = match get("name") {
            Some(Value::String(s)) if !s.is_empty() && s != "prev" && !s.contains('.') => s.clone(),
            Some(_) => return Err(self.err(&field("name"), "a name is a non-empty string without `.` (and not `prev`)")),
            None => String::new(),
        };
        let stage = match (get("stage"), stage) {
            (Some(s), _) => yaml::decode::<Stage>(self.doc, &field("stage"), s)?,
            (None, Some(s)) => s,
            (None, None) => return Err(self.err(path, "explicit nodes need `stage: encoder | fusion | head`")),
        };
        let modality = match get("modality") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) => None,
            Some(_) => return Err(self.err(&field("modality"), "expected a modality name")),
            None => modality.map(str::to_string),
        };
        if let Some(m) = &modality
            && explicit && !self.modality_known(m) {
                return Err(self.err(&field("modality"), format!("unknown modality `{m}`")));
            }
        let device = match get("device") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(self.err(&field("device"), "expected a device name")),
            None => device.map(str::to_string),
        };
        let repeat = match get("repeat") {
            Some(v) => {
                let r: usize = yaml::decode(self.doc, &field("repeat"), v)?;
                if r == 0 || r > 10_000 {
                    return Err(self.err(&field("repeat"), "repeat must be between 1 and 10000"));
                }
                r
            }
            None => 1,
        };
        let share = match get("share") {
            Some(Value::String(g)) if !g.is_empty() && matches!(layer, Layer::Block(_)) => Some(g.clone()),
            Some(Value::String(g)) if !g.is_empty() => {
                return Err(self.err(&field("share"), format!("`share` applies to blocks; `{layer_name}` is an op")));
            }
            Some(_) => return Err(self.err(&field("share"), "expected a non-empty name for the shared weights")),
            None => None,
        };
        let wiring = match get("inputs") {
            Some(v) => {
                let names: Vec<String> = yaml::decode(self.doc, &field("inputs"), v)?;
                if names.is_empty() {
                    return Err(self.err(&field("inputs"), "`inputs` is empty"));
                }
                Wiring::Named(names)
            }
            None if matches!(layer, Layer::Input(_)) || matches!(layer, Layer::Op(Op::Weight(_))) => Wiring::None,
            None if explicit => return Err(self.err(path, "explicit nodes need `inputs:`")),
            None => default_wiring,
        };
        let name = if name.is_empty() && explicit { format!("{prefix}/{layer_name}_{}", self.items.len()) } else { name };
        Ok(Item { path: path.to_string(), name, layer, layer_name, stage, modality, device, repeat, share, wiring, deps: vec![] })
    }

    fn modality_known(&self, m: &str) -> bool {
        self.modality_out.contains_key(m) || self.items.iter().any(|it| it.modality.as_deref() == Some(m))
    }

    fn parse_layer(&self, name: &str, params: &Value, path: &str) -> Result<Layer> {
        let wrap = |(rel, msg): (String, String)| self.err(&join_path(path, &rel), format!("{name}: {msg}"));
        if name == "input" {
            let p: InputFull = blocks::decode_params(params).map_err(wrap)?;
            p.check(self.doc, path)?;
            return Ok(Layer::Input(p));
        }
        if let Some(op) = Op::from_yaml(name, params) {
            let mut op = op.map_err(wrap)?;
            if let Op::HostWork(h) = &mut op {
                h.batch = self.batch;
            }
            return Ok(Layer::Op(op));
        }
        if let Some(block) = blocks::parse_block(name, params) {
            return Ok(Layer::Block(block.map_err(wrap)?));
        }
        let known: Vec<&str> = OP_NAMES.iter().copied().chain(blocks::block_names()).collect();
        let hint = closest(name, &known).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
        Err(self.err(path, format!("unknown op or block `{name}`{hint}")))
    }

    fn lookup(&self, name: &str, modalities: &[String], fusion_out: Option<usize>, head_out: Option<usize>) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        if modalities.iter().any(|m| m == name) {
            return self.modality_out.get(name).copied();
        }
        match name {
            "fusion" => fusion_out,
            "head" => head_out,
            _ => None,
        }
    }

    fn resolve(&self, idx: usize, modalities: &[String], fusion_out: Option<usize>, head_out: Option<usize>) -> Result<Vec<usize>> {
        let item = &self.items[idx];
        Ok(match &item.wiring {
            Wiring::None => vec![],
            Wiring::Prev => vec![idx - 1],
            Wiring::AllModalities => {
                if modalities.is_empty() {
                    return Err(self.err(&item.path, "there are no modalities to fuse; give `inputs:`"));
                }
                modalities.iter().map(|m| self.modality_out[m]).collect()
            }
            Wiring::FusionOutput => vec![fusion_out.expect("fusion exists")],
            Wiring::Named(names) => {
                let mut deps = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    let field = format!("{}.inputs[{i}]", item.path);
                    let d = if n == "prev" {
                        if idx == 0 || !same_list(&self.items[idx - 1].path, &item.path) {
                            return Err(self.err(&field, "`prev` used on the first item of a list"));
                        }
                        idx - 1
                    } else {
                        self.lookup(n, modalities, fusion_out, head_out).ok_or_else(|| {
                            let names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
                            let hint = closest(n, &names).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
                            self.err(&field, format!("input `{n}` names no item{hint}"))
                        })?
                    };
                    if d == idx {
                        return Err(self.err(&field, format!("`{}` takes itself as input", item.name)));
                    }
                    deps.push(d);
                }
                deps
            }
        })
    }

    /// Kahn's algorithm, always taking the earliest-declared ready item: the order a Python program would run
    /// the layers, and a cycle check.
    fn program_order(&self) -> Result<Vec<usize>> {
        let n = self.items.len();
        let mut indeg = vec![0usize; n];
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, it) in self.items.iter().enumerate() {
            for &d in &it.deps {
                indeg[i] += 1;
                consumers[d].push(i);
            }
        }
        let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = (0..n).filter(|&i| indeg[i] == 0).map(std::cmp::Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            order.push(i);
            for &c in &consumers[i] {
                indeg[c] -= 1;
                if indeg[c] == 0 {
                    ready.push(std::cmp::Reverse(c));
                }
            }
        }
        if order.len() < n {
            let stuck: Vec<usize> = (0..n).filter(|&i| indeg[i] > 0).collect();
            let names: Vec<&str> = stuck.iter().map(|&i| self.items[i].name.as_str()).collect();
            let first = &self.items[stuck[0]];
            return Err(Error::input(
                self.doc.locate(&first.path).node(&first.name),
                format!("the graph has a cycle through {}", names.join(" -> ")),
            ));
        }
        Ok(order)
    }

    fn expand(&self, b: &mut GraphBuilder, item: &Item, inputs: &[NodeIndex]) -> std::result::Result<NodeIndex, BuildError> {
        let mut x = inputs.to_vec();
        let mut last = None;
        for r in 0..item.repeat {
            let name = if item.repeat == 1 { item.name.clone() } else { format!("{}/rep{r}", item.name) };
            let node = match &item.layer {
                Layer::Input(inp) => {
                    let mut shape = inp.shape.clone();
                    if inp.batched {
                        shape.insert(inp.batch_axis, self.batch);
                    }
                    b.add(&name, Op::Input(Input { shape, dtype: inp.dtype }), &x)?
                }
                Layer::Op(op) => b.add(&name, op.clone(), &x)?,
                // Shared from inside the item's scope, so the same op of two items has the same weight group.
                Layer::Block(block) => match &item.share {
                    Some(g) => b.scope(&name, |b| b.shared(&format!("share:{g}"), |b| block.build(b, &x)))?,
                    None => b.scope(&name, |b| block.build(b, &x))?,
                },
            };
            x = vec![node];
            last = Some(node);
        }
        Ok(last.expect("repeat >= 1"))
    }

    fn build_error(&self, item: &Item, e: BuildError) -> Error {
        Error::input(self.doc.locate(&item.path).node(&e.node), e.message)
    }
}

fn same_list(a: &str, b: &str) -> bool {
    let parent = |p: &str| p.rfind('[').map(|i| p[..i].to_string());
    parent(a) == parent(b)
}

/// The known name closest to `name` by edit distance, if reasonably close.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, &cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known.iter().map(|k| (dist(name, k), *k)).filter(|(d, k)| *d <= 2.max(k.len() / 3)).min().map(|(_, k)| k)
}
