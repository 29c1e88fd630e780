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
