//! Recurrent layers unrolled as a GPU runs them (WORKLOADS.md §0.1): one `Linear` projects the inputs of all
//! steps (`W_ih`, `b_ih`), then T cells each do the hidden GEMM and the gate kernel (`W_hh`, `b_hh`, shared
//! by all steps). The layer is one framework call, so only its first op pays the framework's dispatch cost.

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::op::Op;
use crate::graph::ops::{GruCell, LstmCell};
use crate::graph::tensor::fmt_shape;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// What a recurrent block returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentOutput {
    /// The final hidden state `h_T` `[B, H]` (MultiBench's GRU encoder).
    #[default]
    Last,
    /// The final cell state `c_T` `[B, H]` (LSTM only; Medical VQA's question vector).
    LastCell,
    /// Every step's hidden state, `[B, T, H]` (or `[T, B, H]` when time-major).
    Sequence,
}

/// Shared parameters of `gru` and `lstm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrent {
    pub hidden: usize,
    #[serde(default = "one")]
    pub layers: usize,
    /// Input is `[T, B, F]` instead of `[B, T, F]`.
    #[serde(default)]
    pub time_major: bool,
    #[serde(default, rename = "return")]
    pub output: RecurrentOutput,
}

fn one() -> usize {
    1
}

/// `gru: {hidden: 70}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Gru(pub Recurrent);

/// `lstm: {hidden: 1024, return: last_cell}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Lstm(pub Recurrent);

impl Block for Gru {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        if self.0.output == RecurrentOutput::LastCell {
            return Err(b.error("gru", "a GRU has no cell state; use `return: last` or `sequence`"));
        }
        build(&self.0, b, inputs, "gru", 3)
    }
}

impl Block for Lstm {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        build(&self.0, b, inputs, "lstm", 4)
    }
}

fn build(p: &Recurrent, b: &mut GraphBuilder, inputs: &[NodeIndex], kind: &str, gates: usize) -> BuildResult<NodeIndex> {
    let mut x = one_input(b, inputs, kind)?;
    if p.hidden == 0 || p.layers == 0 {
        return Err(b.error(kind, "`hidden` and `layers` must be positive"));
    }
    let shape = b.shape(x).to_vec();
    if shape.len() != 3 {
        let want = if p.time_major { "[T, B, F]" } else { "[B, T, F]" };
        return Err(b.error(kind, format!("expects a sequence {want}, got {}", fmt_shape(&shape))));
    }
    let (steps, batch) = if p.time_major { (shape[0], shape[1]) } else { (shape[1], shape[0]) };
    let h = p.hidden;
    for layer in 0..p.layers {
        let last_layer = layer + 1 == p.layers;
        let want = if last_layer { p.output } else { RecurrentOutput::Sequence };
        let scope = if p.layers == 1 { String::new() } else { format!("layer{layer}") };
        let group = b.qualified(&if scope.is_empty() { "cell".to_string() } else { format!("{scope}/cell") });
        let body = |b: &mut GraphBuilder| -> BuildResult<NodeIndex> {
            b.one_call(|b| {
                let proj = b.linear("input_proj", x, gates * h, true)?;
                let mut state: Option<NodeIndex> = None;
                let mut outs = Vec::new();
                for t in 0..steps {
                    let op = if gates == 3 {
                        Op::GruCell(GruCell { hidden: h, step: Some(t), time_major: p.time_major })
                    } else {
                        Op::LstmCell(LstmCell { hidden: h, step: Some(t), time_major: p.time_major })
                    };
                    let args: Vec<NodeIndex> = std::iter::once(proj).chain(state).collect();
                    let s = b.scope(&format!("t{t}"), |b| b.shared(&group, |b| b.add("cell", op, &args)))?;
                    state = Some(s);
                    if want == RecurrentOutput::Sequence {
                        // The hidden state of this step as [B, 1, H] (or [1, B, H] time-major).
                        let hs = if gates == 3 { s } else { b.slice(&format!("t{t}/h"), s, 1, 0, Some(1))? };
                        let seq_shape = if p.time_major { [1, batch, h] } else { [batch, 1, h] };
                        outs.push(b.reshape(&format!("t{t}/h_seq"), hs, &seq_shape)?);
                    }
                }
                let s = state.expect("at least one step");
                match want {
                    RecurrentOutput::Sequence if outs.len() == 1 => Ok(outs[0]),
                    RecurrentOutput::Sequence => b.concat("sequence", &outs, if p.time_major { 0 } else { 1 }),
                    RecurrentOutput::Last if gates == 3 => Ok(s),
                    RecurrentOutput::Last | RecurrentOutput::LastCell => {
                        let which = if want == RecurrentOutput::Last { 0 } else { 1 };
                        let v = b.slice(if which == 0 { "h_last" } else { "c_last" }, s, 1, which, Some(which + 1))?;
                        b.reshape("state_out", v, &[batch, h])
                    }
                }
            })
        };
        x = if scope.is_empty() { body(b)? } else { b.scope(&scope, body)? };
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::DType;

    fn rec(hidden: usize, output: RecurrentOutput) -> Recurrent {
        Recurrent { hidden, layers: 1, time_major: false, output }
    }

    #[test]
    fn gru_over_50_steps_matches_hand_count() {
        // CMU-MOSEI vision GRU 713 -> 70 over 50 steps, batch 32 (WORKLOADS.md §5.3).
        let (b_, t, f, h) = (32u64, 50u64, 713u64, 70u64);
        let mut b = GraphBuilder::new(32);
        let x = b.input("x", &[32, 50, 713], DType::F32).unwrap();
        let y = b.scope("gru", |b| Gru(rec(70, RecurrentOutput::Last)).build(b, &[x])).unwrap();
        let w = b.finish("t", "", vec![y]);
        // 3 (H F + H^2 + 2H) = 164,850.
        assert_eq!(w.params(), 3 * (h * f + h * h + 2 * h));
        assert_eq!(w.params(), 164_850);
        assert_eq!(w.graph[y].output.shape, vec![32, 70]);
        // Input projection for all steps, then per step the hidden GEMM (none in the first step, whose state
        // is zero), its bias and 20 pointwise FLOPs per unit.
        let proj = 2 * b_ * t * f * 3 * h + b_ * t * 3 * h;
        let steps = (t - 1) * 2 * b_ * h * 3 * h + t * (b_ * 3 * h + 20 * b_ * h);
        assert_eq!(w.flops(), proj + steps);
        // One projection GEMM + 2 kernels per step but the first; only the first op pays the framework dispatch.
        assert_eq!(w.kernels(), 1 + 1 + 2 * 49);
        let dispatched = w.nodes().filter(|(_, n)| n.cost.kernels > 0 && !n.continues_call).count();
        assert_eq!(dispatched, 1);
    }

    #[test]
    fn lstm_returns_cell_state_or_sequence() {
        // Medical VQA question LSTM 300 -> 1024 over 12 steps: 5,431,296 params (WORKLOADS.md §7.3).
        let mut b = GraphBuilder::new(2);
        let x = b.input("x", &[12, 2, 300], DType::F32).unwrap();
        let p = Recurrent { hidden: 1024, layers: 1, time_major: true, output: RecurrentOutput::LastCell };
        let c = b.scope("lstm", |b| Lstm(p).build(b, &[x])).unwrap();
        assert_eq!(b.shape(c), &[2, 1024]);
        let w = b.finish("t", "", vec![c]);
        assert_eq!(w.params(), 5_431_296);

        // MuJoCo Push: LSTM 64 -> 256 over 16 steps returning every step (WORKLOADS.md §9.3: 329,728 params).
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 16, 64], DType::F32).unwrap();
        let s = b.scope("lstm", |b| Lstm(rec(256, RecurrentOutput::Sequence)).build(b, &[x])).unwrap();
        assert_eq!(b.shape(s), &[1, 16, 256]);
        assert_eq!(b.finish("t", "", vec![s]).params(), 329_728);
    }

    #[test]
    fn stacked_layers_feed_sequences_and_gru_has_no_cell() {
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 5, 8], DType::F32).unwrap();
        let p = Recurrent { hidden: 4, layers: 2, time_major: false, output: RecurrentOutput::Last };
        let y = b.scope("gru", |b| Gru(p).build(b, &[x])).unwrap();
        assert_eq!(b.shape(y), &[1, 4]);
        // Layer 0: 3 (4*8 + 16 + 8); layer 1: 3 (4*4 + 16 + 8).
        assert_eq!(b.finish("t", "", vec![y]).params(), 3 * (32 + 16 + 8) + 3 * (16 + 16 + 8));
        let mut b = GraphBuilder::new(1);
        let x = b.input("x", &[1, 5, 8], DType::F32).unwrap();
        assert!(Gru(rec(4, RecurrentOutput::LastCell)).build(&mut b, &[x]).unwrap_err().message.contains("no cell state"));
    }
}
