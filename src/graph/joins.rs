//! Where modality branches synchronize. A **join** is an op that consumes two tensors that come from
//! different branches and were produced independently — neither depends on the other — so the op has to
//! wait for both (WORKLOADS.md §0.1). A tensor's branch is the modality its producer is tagged with; an
//! untagged producer (a fusion or head op) stands for the set of modalities it depends on. Weights and
//! constant buffers are not branches.
//!
//! This catches single concatenations (AV-MNIST), every exchange of a multi-point fusion (TransFuser's four
//! GPT blocks consume image and LiDAR streams that already carry each other's features, but were computed
//! apart), and each step of a chained fusion (the products of low-rank tensor fusion), while a residual add
//! inside one branch, or an add of a fused tensor back into the stream it came from, is not a join.
//!
//! The same definition serves workloads and traces, through [`JoinNode`].

/// What the join search needs to know about a node of a DAG in topological order.
#[derive(Debug, Clone)]
pub struct JoinNode<'a> {
    /// Producers (indices of earlier nodes).
    pub inputs: &'a [u32],
    /// The modality branch the node is tagged with.
    pub modality: Option<u16>,
    /// Weights and buffers: never a branch.
    pub constant: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Branch(u16),
    Set(u64),
    None,
}

/// Indices of the join nodes.
pub fn find_joins(nodes: &[JoinNode]) -> Vec<usize> {
    let n = nodes.len();
    let mut sets = vec![0u64; n];
    for (i, node) in nodes.iter().enumerate() {
        let mut s = node.modality.map_or(0, |m| 1u64 << m.min(63));
        for &p in node.inputs {
            s |= sets[p as usize];
        }
        sets[i] = s;
    }
    let label = |i: usize| -> Label {
        let node = &nodes[i];
        match node.modality {
            _ if node.constant => Label::None,
            Some(m) => Label::Branch(m),
            None if sets[i] == 0 => Label::None,
            None => Label::Set(sets[i]),
        }
    };
    let mut joins = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let real: Vec<usize> = node.inputs.iter().map(|&p| p as usize).filter(|&p| label(p) != Label::None).collect();
        'pairs: for (x, &a) in real.iter().enumerate() {
            for &b in &real[x + 1..] {
                if label(a) != label(b) && !reaches(nodes, a.min(b), a.max(b)) {
                    joins.push(i);
                    break 'pairs;
                }
            }
        }
    }
    joins
}

/// Whether `from` is an ancestor of `to` (`from < to` in topological order).
fn reaches(nodes: &[JoinNode], from: usize, to: usize) -> bool {
    let mut stack = vec![to];
    let mut seen = std::collections::HashSet::new();
    while let Some(v) = stack.pop() {
        if v == from {
            return true;
        }
        for &p in nodes[v].inputs {
            let p = p as usize;
            if p >= from && seen.insert(p) {
                stack.push(p);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(inputs: &'static [u32], modality: Option<u16>) -> JoinNode<'static> {
        JoinNode { inputs, modality, constant: false }
    }

    #[test]
    fn concat_of_two_branches_is_a_join_but_a_residual_is_not() {
        // 0: a, 1: a conv, 2: a residual add (0, 1), 3: b, 4: concat (2, 3).
        let nodes = [node(&[], Some(0)), node(&[0], Some(0)), node(&[0, 1], Some(0)), node(&[], Some(1)), node(&[2, 3], None)];
        assert_eq!(find_joins(&nodes), vec![4]);
    }

    #[test]
    fn every_exchange_of_a_multi_point_fusion_is_a_join() {
        // img0, lid0, gpt1(img0, lid0), img1(img0, gpt1), lid1(lid0, gpt1), gpt2(img1, lid1).
        let nodes = [
            node(&[], Some(0)),
            node(&[], Some(1)),
            node(&[0, 1], None),
            node(&[0, 2], Some(0)),
            node(&[1, 2], Some(1)),
            node(&[3, 4], None),
        ];
        // The residual adds (3, 4) merge a fused tensor back into its own stream: the stream is an ancestor.
        assert_eq!(find_joins(&nodes), vec![2, 5]);
    }

    #[test]
    fn constants_are_not_branches() {
        let nodes = [node(&[], Some(0)), JoinNode { inputs: &[], modality: None, constant: true }, node(&[0, 1], None)];
        assert!(find_joins(&nodes).is_empty());
    }
}
