//! `mmbench export`: a workload graph as a documented, versioned JSON document that another runtime builds
//! and runs: the PyTorch runner (`python/mmbench_torch`) reads it, and so can any tool of the user's.
//!
//! The document (schema `mmbench.graph`, version [`SCHEMA_VERSION`]) is the workload after `--batch`,
//! `--scale` and `--set`, every block expanded into ops:
//!
//! | field | what it holds |
//! |---|---|
//! | `schema`, `version` | `"mmbench.graph"` and the version; a reader refuses versions it does not know |
//! | `workload`, `description`, `batch`, `modalities` | the configuration; modalities in the order the encoders run |
//! | `params`, `flops`, `kernels` | totals, as `mmbench info` gives them |
//! | `nodes` | every op in program order (a topological order), see below |
//! | `outputs` | indices of the nodes whose values the network returns |
//!
//! Each node:
//!
//! | field | what it holds |
//! |---|---|
//! | `index`, `name` | position in `nodes` and the unique hierarchical name (`audio/lenet/block2/conv`) |
//! | `op` | the op kind as YAML names it (`conv2d`, `relu`, `gru_cell`, `reduce_mean`) |
//! | `attrs` | the op's parameters as mmbench holds them (the fields of its struct in `src/graph/ops/`) |
//! | `inputs` | producer indices, in argument order |
//! | `output` | `{shape, dtype}` (`f32` or `i64`), batch axis included |
//! | `stage`, `modality` | `encoder`, `fusion` or `head`; the branch name or `null` |
//! | `call` | the framework call the node belongs to: nodes with the same `call` are issued by one call (a recurrent layer: its input projection and every step) |
//! | `weight_owner` | nodes with the same owner share parameters (the steps of a layer, ALBERT's layers) |
//! | `device` | the device the workload pins the node to (`cpu` for host work), or `null` |
//! | `kernels`, `flops`, `bytes`, `param_count` | the cost model's count of the node |
//! | `params` | the node's parameter tensors in mmbench's layouts (`src/exec/params.rs`): `{name, shape, init, key}` |
//! | `fill` | for sources (inputs, standalone weights, host work): how their values are drawn |
//!
//! Values are drawn as `src/exec/data.rs` draws them, so a runtime that follows these rules computes on the
//! same numbers as the CPU reference: a tensor's generator is SplitMix64 seeded with FNV-1a of its `key`
//! xor the seed [`crate::exec::data::SEED`]; `init: {uniform: {low, high}}` draws `low + (high - low) · u`
//! in f32 with `u = (next >> 40) · 2⁻²⁴`, `init: {const: c}` fills `c`. Source `fill`s are `uniform`,
//! `const`, `arange` (`k mod last axis`), `ids` (`((next >> 32) · bound) >> 32`), `ids_arange`
//! (`(k mod last axis) mod bound`) and `ids_const`.

use crate::error::Result;
use crate::exec::data::{source_fill, weight_owner, SourceFill};
use crate::exec::params::param_specs;
use crate::graph::{Op, TensorInfo, Workload};
use serde::Serialize;

/// The schema's name, in every document.
pub const SCHEMA: &str = "mmbench.graph";
/// Bumped whenever a field changes meaning or disappears (added fields keep the version).
pub const SCHEMA_VERSION: u32 = 1;

/// The exported document.
#[derive(Debug, Clone, Serialize)]
pub struct GraphDoc {
    pub schema: &'static str,
    pub version: u32,
    pub workload: String,
    pub description: String,
    pub batch: usize,
    pub modalities: Vec<String>,
    pub params: u64,
    pub flops: u64,
    pub kernels: u64,
    pub nodes: Vec<NodeDoc>,
    pub outputs: Vec<usize>,
}

/// One op of the exported graph.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDoc {
    pub index: usize,
    pub name: String,
    pub op: String,
    pub attrs: serde_json::Value,
    pub inputs: Vec<usize>,
    pub output: TensorInfo,
    pub stage: crate::graph::Stage,
    pub modality: Option<String>,
    pub call: usize,
    pub weight_owner: String,
    pub device: Option<String>,
    pub kernels: u32,
    pub flops: u64,
    pub bytes: u64,
    pub param_count: u64,
    pub params: Vec<ParamDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<SourceFill>,
}

/// One parameter tensor of a node.
#[derive(Debug, Clone, Serialize)]
pub struct ParamDoc {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub init: crate::exec::data::Init,
    /// The generator key: `<weight owner>/<name>`.
    pub key: String,
}

/// The op's own parameters: the fields of its struct (the enum's one variant, unwrapped).
fn attrs(op: &Op) -> serde_json::Value {
    match serde_json::to_value(op) {
        Ok(serde_json::Value::Object(m)) if m.len() == 1 => m.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
        Ok(other) => other,
        Err(_) => serde_json::Value::Null,
    }
}

/// The document of `w`.
pub fn export(w: &Workload) -> Result<GraphDoc> {
    let mut nodes = Vec::with_capacity(w.len());
    let mut call = 0usize;
    let mut previous: Option<Option<u32>> = None;
    for (i, node) in w.nodes() {
        // A node opens a new call unless it belongs to the same multi-op call as the node before it.
        if previous.is_some() && (node.call.is_none() || previous != Some(node.call)) {
            call += 1;
        }
        previous = Some(node.call);
        let infos: Vec<TensorInfo> = node.inputs.iter().map(|&p| w.node(p).output.clone()).collect();
        let owner = weight_owner(node).to_string();
        let params = param_specs(node, &infos)?
            .into_iter()
            .map(|s| ParamDoc { name: s.name, key: format!("{owner}/{}", s.name), shape: s.shape, init: s.init })
            .collect();
        nodes.push(NodeDoc {
            index: i.index(),
            name: node.name.clone(),
            op: node.op.kind(),
            attrs: attrs(&node.op),
            inputs: node.inputs.iter().map(|p| p.index()).collect(),
            output: node.output.clone(),
            stage: node.stage,
            modality: w.modality_name(node).map(str::to_string),
            call,
            weight_owner: owner,
            device: node.device.clone(),
            kernels: node.cost.kernels,
            flops: node.cost.flops,
            bytes: node.cost.bytes(),
            param_count: node.cost.params,
            params,
            fill: source_fill(w, i),
        });
    }
    Ok(GraphDoc {
        schema: SCHEMA,
        version: SCHEMA_VERSION,
        workload: w.name.clone(),
        description: w.description.clone(),
        batch: w.batch,
        modalities: w.modalities.clone(),
        params: w.params(),
        flops: w.flops(),
        kernels: w.kernels(),
        nodes,
        outputs: w.outputs.iter().map(|o| o.index()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::builtin::workload_names as builtin_workload_names;
    use crate::graph::{load_workload, WorkloadOptions};

    fn doc(name: &str) -> serde_json::Value {
        let w = load_workload(name, &WorkloadOptions { batch: Some(2), scale: Some(0.1), ..Default::default() }).unwrap();
        serde_json::to_value(export(&w).unwrap()).unwrap()
    }

    #[test]
    fn every_builtin_workload_exports_with_the_documented_fields() {
        for name in builtin_workload_names() {
            let d = doc(name);
            assert_eq!(d["schema"], SCHEMA);
            assert_eq!(d["version"], SCHEMA_VERSION);
            assert_eq!(d["batch"], 2);
            let nodes = d["nodes"].as_array().unwrap();
            assert!(!nodes.is_empty());
            for (i, n) in nodes.iter().enumerate() {
                assert_eq!(n["index"], i, "{name}");
                for field in ["name", "op", "attrs", "inputs", "output", "stage", "modality", "call", "weight_owner", "device", "kernels", "flops", "bytes", "param_count", "params"] {
                    assert!(n.get(field).is_some(), "{name}: node {i} has no `{field}`");
                }
                // Producers come first (program order is topological).
                assert!(n["inputs"].as_array().unwrap().iter().all(|p| p.as_u64().unwrap() < i as u64), "{name}: node {i}");
                let source = matches!(n["op"].as_str().unwrap(), "input" | "weight" | "host_work");
                assert_eq!(n.get("fill").is_some(), source, "{name}: node {i} ({})", n["op"]);
            }
        }
    }

    #[test]
    fn a_recurrent_layer_is_one_call_and_shares_its_weights() {
        let d = doc("mujoco-push");
        let nodes = d["nodes"].as_array().unwrap();
        let cells: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["op"] == "gru_cell" || n["op"] == "lstm_cell").collect();
        assert!(cells.len() > 1);
        let first = cells[0];
        let layer: Vec<&serde_json::Value> = cells.iter().copied().filter(|c| c["weight_owner"] == first["weight_owner"]).collect();
        assert!(layer.len() > 1);
        assert!(layer.iter().all(|c| c["call"] == first["call"]), "every step in the layer's call");
        // The views that assemble the layer's output belong to its call too.
        let members: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["call"] == first["call"]).collect();
        assert!(members.iter().any(|n| n["op"] == "slice" || n["op"] == "reshape"), "views of the layer in its call");
        // The input projection opens the call.
        let proj = nodes.iter().find(|n| n["call"] == first["call"]).unwrap();
        assert_eq!(proj["op"], "linear");
        assert_eq!(first["params"][0]["name"], "weight_hh");
        assert_eq!(first["params"][0]["key"], format!("{}/weight_hh", first["weight_owner"].as_str().unwrap()));
    }

    #[test]
    fn attrs_hold_the_op_parameters() {
        let d = doc("av-mnist");
        let conv = d["nodes"].as_array().unwrap().iter().find(|n| n["op"] == "conv2d").unwrap();
        assert!(conv["attrs"]["out"].as_u64().unwrap() > 0);
        assert!(conv["attrs"]["kernel"].is_array());
        assert_eq!(conv["params"][0]["name"], "weight");
        let input = d["nodes"].as_array().unwrap().iter().find(|n| n["op"] == "input").unwrap();
        assert_eq!(input["fill"]["fill"], "uniform");
        assert_eq!(input["fill"]["low"], -1.0);
    }
}
