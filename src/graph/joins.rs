//! Where modality branches synchronize. A **join** is an op that brings branches together: its inputs come
//! from different branches, were produced independently (neither depends on the other), so the op has to
//! wait for both, and together they carry branches that no single input carries yet (WORKLOADS.md §0.1).
//!
//! A value's branches are the modality its producer is tagged with; an untagged producer (a fusion or head
//! op) carries the union of its inputs' branches. Tagging goes first, so a stream that received fused features
//! (TransFuser's image stream after a GPT exchange) is still its own branch, and every exchange of a
//! multi-point fusion is a join. A residual add inside one branch, an add of fused features back into the
//! stream they came from, or a sum of losses that already mixes every branch is not. Weights and constant
//! buffers belong to no branch. Chained fusions join once per branch they add (each product of low-rank
//! tensor fusion).
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

/// Branch set (bit per modality) of every node: its own modality when tagged, else its inputs' union.
pub fn branch_sets(nodes: &[JoinNode]) -> Vec<u64> {
    let mut sets = vec![0u64; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        sets[i] = match node.modality {
            _ if node.constant => 0,
            Some(m) => 1u64 << m.min(63),
            None => node.inputs.iter().fold(0u64, |acc, &p| acc | sets[p as usize]),
        };
    }
    sets
}

/// Indices of the join nodes.
pub fn find_joins(nodes: &[JoinNode]) -> Vec<usize> {
    let sets = branch_sets(nodes);
    let mut joins = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let real: Vec<usize> = node.inputs.iter().map(|&p| p as usize).filter(|&p| sets[p] != 0).collect();
        let union = real.iter().fold(0u64, |acc, &p| acc | sets[p]);
        if union.count_ones() < 2 || real.iter().any(|&p| sets[p] == union) {
            continue;
        }
        let independent_pair = real.iter().enumerate().any(|(x, &a)| real[x + 1..].iter().any(|&b| sets[a] != sets[b] && !reaches(nodes, a.min(b), a.max(b))));
        if independent_pair {
            joins.push(i);
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
    fn a_sum_that_already_mixes_every_branch_is_not_a_join() {
        // a, b, loss_a(a), loss_b(b), total1(loss_a, loss_b) is a join; total2(total1, loss_a2) is not.
        let nodes = [
            node(&[], Some(0)),
            node(&[], Some(1)),
            node(&[0], None),
            node(&[1], None),
            node(&[2, 3], None),
            node(&[0], None),
            node(&[4, 5], None),
        ];
        assert_eq!(find_joins(&nodes), vec![4]);
    }

    #[test]
    fn constants_are_not_branches() {
        let nodes = [node(&[], Some(0)), JoinNode { inputs: &[], modality: None, constant: true }, node(&[0, 1], None)];
        assert!(find_joins(&nodes).is_empty());
    }
}
