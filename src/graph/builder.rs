//! `GraphBuilder`: adds ops one at a time, inferring each output shape and cost on the spot, so that a shape
//! mismatch is reported at the node that causes it. The YAML loader, the block library and Rust users all
//! build workloads through it.

use super::cost::OpCost;
use super::op::{Op, OpSpec};
use super::ops::*;
use super::tensor::{fmt_shape, DType, TensorInfo};
use super::workload::{Node, Stage, Workload};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;

/// A graph-building error, tied to the node that could not be added.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildError {
    pub node: String,
    pub message: String,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node `{}`: {}", self.node, self.message)
    }
}

pub type BuildResult<T> = Result<T, BuildError>;

/// Builds a [`Workload`]. Names are hierarchical: `scope` pushes a name segment, so a block's ops are named
/// `audio/lenet/block2/conv`.
pub struct GraphBuilder {
    graph: DiGraph<Node, usize>,
    names: HashMap<String, NodeIndex>,
    modalities: Vec<String>,
    batch: usize,
    scope: Vec<String>,
    stage: Stage,
    modality: Option<u16>,
    device: Option<String>,
    /// (group prefix, scope depth at which sharing started).
    shared: Option<(String, usize)>,
    /// Inside a multi-kernel framework call: whether its first op was already added.
    call: Option<bool>,
    /// The framework call nodes are being added to (every node of one `one_call`, views included), and how
    /// many such calls there have been.
    call_id: Option<u32>,
    calls: u32,
}

impl GraphBuilder {
    pub fn new(batch: usize) -> Self {
        GraphBuilder {
            graph: DiGraph::new(),
            names: HashMap::new(),
            modalities: Vec::new(),
            batch,
            scope: Vec::new(),
            stage: Stage::Encoder,
            modality: None,
            device: None,
            shared: None,
            call: None,
            call_id: None,
            calls: 0,
        }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Declares a modality (idempotent) and returns its index.
    pub fn modality(&mut self, name: &str) -> u16 {
        if let Some(i) = self.modalities.iter().position(|m| m == name) {
            return i as u16;
        }
        self.modalities.push(name.to_string());
        (self.modalities.len() - 1) as u16
    }

    /// Sets the stage and modality of the nodes added next.
    pub fn set_stage(&mut self, stage: Stage, modality: Option<&str>) {
        self.stage = stage;
        self.modality = modality.map(|m| self.modality(m));
    }

    /// Pins the nodes added next to a device (or unpins with `None`).
    pub fn set_device(&mut self, device: Option<String>) {
        self.device = device;
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Runs `f` with a name segment pushed.
    pub fn scope<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> BuildResult<T>) -> BuildResult<T> {
        self.scope.push(name.to_string());
        let r = f(self);
        self.scope.pop();
        r
    }

    /// Runs `f` so that its nodes share parameters with every other region opened with the same absolute
    /// `group` name (ALBERT's repeated layer; the steps of a recurrent layer). A node's weight group is `group`
    /// plus its name relative to the region, so the same op in two repetitions shares weights and the
    /// parameters are counted once. Make `group` unique with [`GraphBuilder::qualified`]. Inside another shared
    /// region (a recurrent layer inside a module called several times), a group named from the current scope
    /// is re-rooted at the outer group, so it is shared by every call of the outer module too.
    pub fn shared<T>(&mut self, group: &str, f: impl FnOnce(&mut Self) -> BuildResult<T>) -> BuildResult<T> {
        let group = match &self.shared {
            Some((outer, depth)) => {
                let prefix: String = self.scope[..*depth].iter().map(|s| format!("{s}/")).collect();
                group.strip_prefix(&prefix).map_or_else(|| group.to_string(), |rel| format!("{outer}/{rel}"))
            }
            None => group.to_string(),
        };
        let prev = self.shared.replace((group, self.scope.len()));
        let r = f(self);
        self.shared = prev;
        r
    }

    /// Runs `f` as one framework call: the first op added pays the framework's dispatch cost, the others
    /// only their kernel launches (cuDNN's recurrent layers launch many kernels from one call).
    pub fn one_call<T>(&mut self, f: impl FnOnce(&mut Self) -> BuildResult<T>) -> BuildResult<T> {
        let prev = self.call.replace(false);
        let prev_id = self.call_id.replace(self.calls);
        self.calls += 1;
        let r = f(self);
        self.call = prev;
        self.call_id = prev_id;
        r
    }

    /// `local` prefixed with the current scope (`audio/lenet/local`).
    pub fn qualified(&self, local: &str) -> String {
        self.qualify(local)
    }

    fn qualify(&self, local: &str) -> String {
        let mut s = self.scope.join("/");
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(local);
        s
    }

    /// The output tensor of a node.
    pub fn info(&self, i: NodeIndex) -> &TensorInfo {
        &self.graph[i].output
    }

    /// The output shape of a node.
    pub fn shape(&self, i: NodeIndex) -> &[usize] {
        &self.graph[i].output.shape
    }

    /// The node's full name.
    pub fn name_of(&self, i: NodeIndex) -> &str {
        &self.graph[i].name
    }

    /// Looks up a node by full name.
    pub fn find(&self, name: &str) -> Option<NodeIndex> {
        self.names.get(name).copied()
    }

    /// Number of nodes so far.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// An error about the node `local` would get.
    pub fn error(&self, local: &str, message: impl Into<String>) -> BuildError {
        BuildError { node: self.qualify(local), message: message.into() }
    }

    /// Adds an op named `local` (inside the current scope) with these inputs.
    pub fn add(&mut self, local: &str, op: Op, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let name = self.qualify(local);
        if self.names.contains_key(&name) {
            return Err(BuildError { node: name, message: "a node of this name already exists".into() });
        }
        let infos: Vec<TensorInfo> = inputs.iter().map(|&i| self.graph[i].output.clone()).collect();
        let output = op.infer(&infos).map_err(|m| {
            let shapes: Vec<String> = infos.iter().map(|t| fmt_shape(&t.shape)).collect();
            let shown = if shapes.is_empty() { String::new() } else { format!(" (inputs {})", shapes.join(", ")) };
            BuildError { node: name.clone(), message: format!("{}: {m}{shown}", op.kind()) }
        })?;
        // 2^36 elements (256 GiB of fp32) is beyond every device we describe: a typo, not a model.
        const MAX_ELEMENTS: u64 = 1 << 36;
        if output.numel() > MAX_ELEMENTS {
            return Err(BuildError {
                node: name,
                message: format!("output {} has {} elements, more than any device holds", fmt_shape(&output.shape), element_count(&output.shape)),
            });
        }
        let cost: OpCost = op.cost(&infos, &output);
        let weight_group = self.shared.as_ref().map(|(g, depth)| {
            let rel: Vec<&str> = self.scope[*depth..].iter().map(String::as_str).chain([local]).collect();
            format!("{g}/{}", rel.join("/"))
        });
        let continues_call = match &mut self.call {
            Some(started) if cost.kernels > 0 => std::mem::replace(started, true),
            _ => false,
        };
        let node = Node {
            name: name.clone(),
            op,
            stage: self.stage,
            modality: self.modality,
            inputs: inputs.to_vec(),
            output,
            cost,
            weight_group,
            continues_call,
            call: self.call_id,
            device: self.device.clone(),
        };
        let idx = self.graph.add_node(node);
        for (pos, &i) in inputs.iter().enumerate() {
            self.graph.add_edge(i, idx, pos);
        }
        self.names.insert(name, idx);
        Ok(idx)
    }

    /// Finishes the workload. `outputs` defaults to the last node added.
    pub fn finish(self, name: &str, description: &str, outputs: Vec<NodeIndex>) -> Workload {
        let outputs = if outputs.is_empty() && self.graph.node_count() > 0 {
            vec![NodeIndex::new(self.graph.node_count() - 1)]
        } else {
            outputs
        };
        Workload {
            name: name.to_string(),
            description: description.to_string(),
            batch: self.batch,
            modalities: self.modalities,
            graph: self.graph,
            outputs,
        }
    }

    // ---- Shorthands for common ops, used by the block library. ----

    pub fn input(&mut self, local: &str, shape: &[usize], dtype: DType) -> BuildResult<NodeIndex> {
        self.add(local, Op::Input(Input { shape: shape.to_vec(), dtype }), &[])
    }

    /// A standalone tensor: a parameter, an unregistered learned tensor, or a constant buffer.
    pub fn weight(&mut self, local: &str, shape: &[usize], kind: WeightKind) -> BuildResult<NodeIndex> {
        self.add(local, Op::Weight(Weight::new(shape, kind)), &[])
    }

    /// An integer buffer (ids) filled with zeros or 0, 1, 2, ... along the last axis.
    pub fn id_buffer(&mut self, local: &str, shape: &[usize], init: WeightInit) -> BuildResult<NodeIndex> {
        self.add(local, Op::Weight(Weight { shape: shape.to_vec(), kind: WeightKind::Buffer, dtype: DType::I64, init }), &[])
    }

    /// A `dims`-D convolution with square kernel `k`, stride `s`, zero padding `p`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, local: &str, x: NodeIndex, dims: usize, out: usize, k: usize, s: usize, p: usize, bias: bool) -> BuildResult<NodeIndex> {
        self.add(local, Op::Conv(Conv::new(dims, out, k, s, p, bias)), &[x])
    }

    pub fn batch_norm(&mut self, local: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
        self.add(local, Op::BatchNorm(BatchNorm::default()), &[x])
    }

    pub fn layer_norm(&mut self, local: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
        self.add(local, Op::LayerNorm(LayerNorm::default()), &[x])
    }

    pub fn unary(&mut self, local: &str, func: UnaryFn, x: NodeIndex) -> BuildResult<NodeIndex> {
        self.add(local, Op::Unary(Unary { func }), &[x])
    }

    pub fn relu(&mut self, local: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
        self.unary(local, UnaryFn::Relu, x)
    }

    pub fn linear(&mut self, local: &str, x: NodeIndex, out: usize, bias: bool) -> BuildResult<NodeIndex> {
        self.add(local, Op::Linear(Linear { out, bias }), &[x])
    }

    pub fn binary(&mut self, local: &str, kind: BinaryKind, a: NodeIndex, b: NodeIndex) -> BuildResult<NodeIndex> {
        self.add(local, Op::Binary(Binary { kind }), &[a, b])
    }

    pub fn max_pool(&mut self, local: &str, x: NodeIndex, dims: usize, k: usize, s: usize) -> BuildResult<NodeIndex> {
        self.add(local, Op::Pool(Pool::new(PoolKind::Max, dims, k, s)), &[x])
    }

    pub fn reduce(&mut self, local: &str, kind: ReduceKind, x: NodeIndex, axes: &[i64], keepdim: bool) -> BuildResult<NodeIndex> {
        self.add(local, Op::Reduce(Reduce { kind, axes: axes.to_vec(), keepdim }), &[x])
    }

    /// Mean over all spatial axes (`[B, C, *spatial] -> [B, C]`).
    pub fn global_avg_pool(&mut self, local: &str, x: NodeIndex) -> BuildResult<NodeIndex> {
        let rank = self.shape(x).len();
        if rank < 3 {
            return Err(self.error(local, format!("global average pooling needs [B, C, *spatial], got {}", fmt_shape(self.shape(x)))));
        }
        let axes: Vec<i64> = (2..rank as i64).collect();
        self.reduce(local, ReduceKind::Mean, x, &axes, false)
    }

    pub fn concat(&mut self, local: &str, xs: &[NodeIndex], axis: i64) -> BuildResult<NodeIndex> {
        self.add(local, Op::Concat(Concat { axis }), xs)
    }

    pub fn reshape(&mut self, local: &str, x: NodeIndex, shape: &[usize]) -> BuildResult<NodeIndex> {
        self.add(local, Op::Reshape(Reshape::to(shape)), &[x])
    }

    pub fn permute(&mut self, local: &str, x: NodeIndex, perm: &[usize]) -> BuildResult<NodeIndex> {
        self.add(local, Op::Permute(Permute { perm: perm.to_vec() }), &[x])
    }

    pub fn slice(&mut self, local: &str, x: NodeIndex, axis: i64, start: i64, end: Option<i64>) -> BuildResult<NodeIndex> {
        self.add(local, Op::Slice(Slice { axis, start, end }), &[x])
    }

    pub fn softmax(&mut self, local: &str, x: NodeIndex, axis: i64) -> BuildResult<NodeIndex> {
        self.add(local, Op::Softmax(Softmax { axis }), &[x])
    }

    pub fn matmul(&mut self, local: &str, a: NodeIndex, b: NodeIndex, transpose_b: bool, scale: f32) -> BuildResult<NodeIndex> {
        self.add(local, Op::MatMul(MatMul { transpose_b, scale }), &[a, b])
    }

    /// Flattens axes `start..` into one (`[B, C, H, W] -> [B, C*H*W]` for start 1).
    pub fn flatten(&mut self, local: &str, x: NodeIndex, start: usize) -> BuildResult<NodeIndex> {
        let shape = self.shape(x).to_vec();
        if start >= shape.len() {
            return Err(self.error(local, format!("cannot flatten from axis {start} of {}", fmt_shape(&shape))));
        }
        let mut new = shape[..start].to_vec();
        new.push(shape[start..].iter().product());
        self.reshape(local, x, &new)
    }

    /// Removes one axis of size 1 (or, with `axis` None, all of them).
    pub fn squeeze(&mut self, local: &str, x: NodeIndex, axis: Option<i64>) -> BuildResult<NodeIndex> {
        let shape = self.shape(x).to_vec();
        let new: Vec<usize> = match axis {
            Some(a) => {
                let a = super::tensor::norm_axis(a, shape.len()).map_err(|m| self.error(local, m))?;
                if shape[a] != 1 {
                    return Err(self.error(local, format!("cannot squeeze axis {a} of size {}", shape[a])));
                }
                shape.iter().enumerate().filter(|&(i, _)| i != a).map(|(_, &d)| d).collect()
            }
            None => shape.iter().copied().filter(|&d| d != 1).collect(),
        };
        self.reshape(local, x, &new)
    }

    /// Inserts an axis of size 1 at `axis` (negative counts from the end of the new shape).
    pub fn unsqueeze(&mut self, local: &str, x: NodeIndex, axis: i64) -> BuildResult<NodeIndex> {
        let mut shape = self.shape(x).to_vec();
        let a = super::tensor::norm_axis(axis, shape.len() + 1).map_err(|m| self.error(local, m))?;
        shape.insert(a, 1);
        self.reshape(local, x, &shape)
    }

    /// Stacks equal-shaped tensors along a new axis (unsqueeze each, then concat).
    pub fn stack(&mut self, local: &str, xs: &[NodeIndex], axis: i64) -> BuildResult<NodeIndex> {
        self.scope(local, |b| {
            let mut parts = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                parts.push(b.unsqueeze(&format!("unsqueeze{i}"), x, axis)?);
            }
            let rank = b.shape(parts[0]).len() as i64;
            let axis = if axis < 0 { axis + rank } else { axis };
            if parts.len() == 1 {
                return Ok(parts[0]);
            }
            b.concat("concat", &parts, axis)
        })
    }
}


/// The element count of a shape as text, exact however large (a count past 2^64 saturates in [`numel`]).
fn element_count(shape: &[usize]) -> String {
    let exact = shape.iter().try_fold(1u128, |n, &d| n.checked_mul(d as u128));
    match exact {
        Some(n) => n.to_string(),
        None => format!("{:.3e}", shape.iter().map(|&d| d as f64).product::<f64>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_name_the_node_and_inputs() {
        let mut b = GraphBuilder::new(2);
        b.set_stage(Stage::Encoder, Some("image"));
        let x = b.input("x", &[2, 3, 8, 8], DType::F32).unwrap();
        let err = b.scope("enc", |b| b.linear("fc", x, 10, true).and_then(|y| b.conv("c", y, 3, 4, 3, 1, 1, true))).unwrap_err();
        assert_eq!(err.node, "enc/c");
        assert!(err.message.contains("conv3d"), "{}", err.message);
        assert!(err.message.contains("[2, 3, 8, 10]"), "{}", err.message);
    }

    #[test]
    fn shared_groups_count_parameters_once() {
        let mut b = GraphBuilder::new(1);
        let mut x = b.input("x", &[1, 16], DType::F32).unwrap();
        let group = b.qualified("tied");
        for i in 0..3 {
            x = b.scope(&format!("layer{i}"), |b| b.shared(&group, |b| b.linear("fc", x, 16, true))).unwrap();
        }
        let w = b.finish("t", "", vec![]);
        assert_eq!(w.graph[x].name, "layer2/fc");
        assert_eq!(w.graph[x].weight_group.as_deref(), Some("tied/fc"));
        assert_eq!(w.params(), 16 * 16 + 16);
        assert_eq!(w.flops(), 3 * (2 * 16 * 16 + 16));
    }

    #[test]
    fn shared_groups_inside_a_shared_region_are_shared_by_every_call() {
        // A module with an internally tied layer (a recurrent cell, ALBERT's layer), called twice.
        let mut b = GraphBuilder::new(1);
        let mut x = b.input("x", &[1, 16], DType::F32).unwrap();
        for call in ["call0", "call1"] {
            x = b
                .scope(call, |b| {
                    b.shared("module", |b| {
                        let tied = b.qualified("tied");
                        let mut y = x;
                        for step in 0..2 {
                            y = b.scope(&format!("step{step}"), |b| b.shared(&tied, |b| b.linear("fc", y, 16, true)))?;
                        }
                        Ok(y)
                    })
                })
                .unwrap();
        }
        let w = b.finish("t", "", vec![]);
        assert_eq!(w.graph[x].name, "call1/step1/fc");
        assert_eq!(w.graph[x].weight_group.as_deref(), Some("module/tied/fc"));
        assert_eq!(w.params(), 16 * 16 + 16);
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let mut b = GraphBuilder::new(1);
        b.input("x", &[1], DType::F32).unwrap();
        assert!(b.input("x", &[1], DType::F32).unwrap_err().message.contains("already exists"));
    }

    #[test]
    fn one_call_marks_continuations() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 4], DType::F32).unwrap();
        let (a, c) = b.one_call(|b| Ok((b.relu("a", x)?, b.relu("c", x)?))).unwrap();
        let w = b.finish("t", "", vec![]);
        assert!(!w.graph[a].continues_call);
        assert!(w.graph[c].continues_call);
    }
}
