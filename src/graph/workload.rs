//! The `Workload`: a petgraph DAG of ops. Every node carries its stage (encoder, fusion, head) and its
//! modality; fusion nodes are where branches join. Node indices follow program order (the order a framework
//! issues the ops), which is also a topological order.

use super::cost::{OpClass, OpCost};
use super::op::Op;
use super::tensor::TensorInfo;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The stage of a multi-modal network a node belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Per-modality feature extraction (and work outside the network that feeds it).
    Encoder,
    /// Where modalities are combined.
    Fusion,
    /// Task-specific layers after fusion.
    Head,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Encoder, Stage::Fusion, Stage::Head];
    pub fn name(self) -> &'static str {
        match self {
            Stage::Encoder => "encoder",
            Stage::Fusion => "fusion",
            Stage::Head => "head",
        }
    }
}

/// One op in the DAG.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Unique, hierarchical name (`audio/lenet/block2/conv`).
    pub name: String,
    pub op: Op,
    pub stage: Stage,
    /// Index into [`Workload::modalities`], or `None` for nodes that belong to no single branch.
    pub modality: Option<u16>,
    /// Producers, in argument order.
    #[serde(serialize_with = "indices")]
    pub inputs: Vec<NodeIndex>,
    pub output: TensorInfo,
    pub cost: OpCost,
    /// Nodes with the same weight group share parameters (the steps of a recurrent layer, ALBERT's layers);
    /// the group's parameters are counted once.
    pub weight_group: Option<String>,
    /// Issued by the same framework call as the node before it (a recurrent layer is one call that launches
    /// many kernels), so it pays kernel launch cost but not the framework's per-op dispatch cost.
    pub continues_call: bool,
    /// The multi-op framework call (a recurrent layer) this node belongs to, views included: nodes with the
    /// same value are issued by one call. `None` for a node that is a call of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<u32>,
    /// The device this node is pinned to by the workload (e.g. CPU feature extraction), if any.
    pub device: Option<String>,
}

fn indices<S: serde::Serializer>(v: &[NodeIndex], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|i| i.index()))
}

/// A multi-modal network as an operator DAG.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub description: String,
    /// The batch size the graph was built for.
    pub batch: usize,
    /// Modality names in declaration order (the order MMBench runs the encoders).
    pub modalities: Vec<String>,
    /// Edges point from producer to consumer; the edge weight is the argument position.
    pub graph: DiGraph<Node, usize>,
    /// The network's outputs (nodes whose results are returned).
    pub outputs: Vec<NodeIndex>,
}

/// Totals of one stage and modality.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageTotals {
    pub stage: Option<Stage>,
    pub modality: Option<String>,
    pub ops: usize,
    pub kernels: u64,
    pub params: u64,
    pub flops: u64,
    pub bytes: u64,
}

impl Workload {
    /// The workload as mmbench's executor runs it: every op on its one adapter, whatever device the workload
    /// pins it to (host work still runs on the host). Validation predicts this, not the pinned placement.
    pub fn unpinned(&self) -> Workload {
        let mut w = self.clone();
        for n in w.graph.node_weights_mut() {
            n.device = None;
        }
        w
    }

    pub fn node(&self, i: NodeIndex) -> &Node {
        &self.graph[i]
    }

    /// Nodes in program order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &Node)> {
        self.graph.node_indices().map(move |i| (i, &self.graph[i]))
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The modality name of a node.
    pub fn modality_name(&self, n: &Node) -> Option<&str> {
        n.modality.map(|m| self.modalities[m as usize].as_str())
    }

    /// Consumers of a node.
    pub fn consumers(&self, i: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.edges(i).map(|e| e.target())
    }

    /// Whether parameters of this node count toward the registered total. Nodes of a weight group count once
    /// (the first in program order). Unregistered weights (low-rank fusion factors) are counted apart.
    fn counted_params<'a>(&'a self, seen: &mut HashSet<&'a str>, n: &'a Node) -> (u64, u64) {
        if let Some(g) = &n.weight_group
            && !seen.insert(g.as_str()) {
                return (0, 0);
            }
        match &n.op {
            Op::Weight(w) if w.kind == crate::graph::ops::WeightKind::Unregistered => (0, n.cost.params),
            _ => (n.cost.params, 0),
        }
    }

    /// Registered parameters (what `sum(p.numel() for p in model.parameters())` gives).
    pub fn params(&self) -> u64 {
        let mut seen = HashSet::new();
        self.graph.node_weights().map(|n| self.counted_params(&mut seen, n).0).sum()
    }

    /// Learned tensors kept outside the parameter registry.
    pub fn unregistered_params(&self) -> u64 {
        let mut seen = HashSet::new();
        self.graph.node_weights().map(|n| self.counted_params(&mut seen, n).1).sum()
    }

    pub fn flops(&self) -> u64 {
        self.graph.node_weights().map(|n| n.cost.flops).sum()
    }

    /// Kernel launches of one inference.
    pub fn kernels(&self) -> u64 {
        self.graph.node_weights().map(|n| u64::from(n.cost.kernels)).sum()
    }

    /// Ops that do work (not views, inputs or weights).
    pub fn compute_ops(&self) -> usize {
        self.graph.node_weights().filter(|n| n.cost.class.launches_kernel()).count()
    }

    /// Totals per (stage, modality), encoders in modality order, then fusion and head.
    pub fn stage_totals(&self) -> Vec<StageTotals> {
        let mut seen = HashSet::new();
        let mut map: BTreeMap<(Stage, Option<u16>), StageTotals> = BTreeMap::new();
        for n in self.graph.node_weights() {
            let (p, _) = self.counted_params(&mut seen, n);
            let t = map.entry((n.stage, n.modality)).or_insert_with(|| StageTotals {
                stage: Some(n.stage),
                modality: self.modality_name(n).map(str::to_string),
                ..Default::default()
            });
            if n.cost.class.launches_kernel() {
                t.ops += 1;
            }
            t.kernels += u64::from(n.cost.kernels);
            t.params += p;
            t.flops += n.cost.flops;
            t.bytes += n.cost.bytes();
        }
        map.into_values().collect()
    }

    /// Join (synchronization) nodes: ops that wait for tensors of two independently computed branches
    /// (see [`super::joins`]).
    pub fn joins(&self) -> Vec<NodeIndex> {
        let inputs: Vec<Vec<u32>> = self.graph.node_weights().map(|n| n.inputs.iter().map(|i| i.index() as u32).collect()).collect();
        let nodes: Vec<super::joins::JoinNode> = self
            .graph
            .node_weights()
            .zip(&inputs)
            .map(|(n, ins)| super::joins::JoinNode { inputs: ins, modality: n.modality, constant: matches!(n.op, Op::Weight(_)) })
            .collect();
        super::joins::find_joins(&nodes).into_iter().map(NodeIndex::new).collect()
    }

    /// For every node, the set of modalities (bit i = modality i) its value depends on.
    pub fn modality_sets(&self) -> Vec<u64> {
        let mut sets = vec![0u64; self.len()];
        for (i, n) in self.nodes() {
            let mut s = n.modality.map(|m| 1u64 << (m.min(63))).unwrap_or(0);
            for &p in &n.inputs {
                s |= sets[p.index()];
            }
            sets[i.index()] = s;
        }
        sets
    }

    /// Peak memory of one inference in program order: parameters plus the largest set of live activations
    /// (a tensor lives from its producer until its last consumer has run).
    pub fn peak_activation_bytes(&self) -> u64 {
        let n = self.len();
        let mut last_use = vec![0usize; n];
        for (i, node) in self.nodes() {
            last_use[i.index()] = i.index();
            for &p in &node.inputs {
                last_use[p.index()] = last_use[p.index()].max(i.index());
            }
        }
        for &o in &self.outputs {
            last_use[o.index()] = n;
        }
        let mut frees: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
        for (i, &l) in last_use.iter().enumerate() {
            frees[l].push(i);
        }
        let (mut live, mut peak) = (0u64, 0u64);
        for (i, node) in self.nodes() {
            if owns_memory(node) {
                live += node.output.bytes();
            }
            peak = peak.max(live);
            for &f in &frees[i.index()] {
                let fnode = &self.graph[NodeIndex::new(f)];
                if owns_memory(fnode) {
                    live -= fnode.output.bytes();
                }
            }
        }
        peak
    }
}

/// Whether a node's output is a new activation buffer (views alias their input; weights are parameters).
fn owns_memory(n: &Node) -> bool {
    !matches!(n.cost.class, OpClass::View) && !matches!(n.op, Op::Weight(_))
}

#[cfg(test)]
mod tests {
    use crate::graph::builder::GraphBuilder;
    use crate::graph::ops::BinaryKind;
    use crate::graph::{DType, Stage};

    #[test]
    fn unpinned_clears_every_device_pin() {
        // Sarcasm pins its BERT branch to the CPU; the executor runs it on the adapter.
        let w = crate::graph::load_workload("sarcasm", &crate::graph::WorkloadOptions { scale: Some(0.1), ..Default::default() }).unwrap();
        assert!(w.nodes().any(|(_, n)| n.device.as_deref() == Some("cpu")));
        let u = w.unpinned();
        assert!(u.nodes().all(|(_, n)| n.device.is_none()));
        assert_eq!((u.flops(), u.len()), (w.flops(), w.len()));
    }

    #[test]
    fn every_exchange_between_two_streams_is_a_join() {
        // Two streams that fuse, continue separately, and fuse again (TransFuser's pattern): both fusion adds
        // are joins although after the first every value depends on both modalities; the per-stream layers in
        // between are not.
        let mut b = GraphBuilder::new(1);
        b.set_stage(Stage::Encoder, Some("image"));
        let i0 = b.input("image", &[1, 4], DType::F32).unwrap();
        b.set_stage(Stage::Encoder, Some("lidar"));
        let l0 = b.input("lidar", &[1, 4], DType::F32).unwrap();
        b.set_stage(Stage::Fusion, None);
        let f1 = b.binary("fuse1", BinaryKind::Add, i0, l0).unwrap();
        let i1 = b.binary("image_residual", BinaryKind::Add, i0, f1).unwrap();
        b.set_stage(Stage::Encoder, Some("image"));
        let i2 = b.relu("image_layer", i1).unwrap();
        b.set_stage(Stage::Encoder, Some("lidar"));
        let l2 = b.relu("lidar_layer", f1).unwrap();
        b.set_stage(Stage::Fusion, None);
        let f2 = b.binary("fuse2", BinaryKind::Add, i2, l2).unwrap();
        let w = b.finish("t", "", vec![f2]);
        assert_eq!(w.joins(), vec![f1, f2]);
        // Dependency sets see both modalities behind both inputs of the second fusion.
        let deps = w.modality_sets();
        assert_eq!((deps[i2.index()], deps[l2.index()]), (0b11, 0b11));
    }
}
