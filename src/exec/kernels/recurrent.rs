//! One GRU or LSTM step (`recurrent.wgsl`), as the cost model counts it: two kernels, the hidden GEMM
//! `h · W_hh + b_hh` on the `matmul` kernel and one pointwise gate kernel. The input projection
//! `x · W_ih + b_ih` of every step is the `linear` before the cells, so the cell reads it as its input.
//!
//! The GEMM's result (`[rows, G]`, G = 3H or 4H) needs a place that outlives the GEMM and is not the output,
//! which is smaller: the plan allocates [`scratch_elements`] more elements in the output's buffer, past the
//! output (from a multiple of 4, so the vec4 GEMM still applies). An LSTM's h is every other row of its
//! `[B, 2, H]` state, so its GEMM takes the state as 2B - 1 contiguous rows of H (h₀, c₀, h₁, …, h_{B-1})
//! and the gate kernel reads the even rows: the c rows cost GEMM work, but no copy and no strided A.
//!
//! Without a previous state (the first step) h and c are zero, so the GEMM is skipped (one kernel) and the
//! gate kernel reads b_hh instead.

use super::matmul::dense_into;
use super::{grid, u32_of, Dispatch, Kernel, OpArgs, TensorRef};
use crate::error::Result;
use crate::graph::{Node, Op, TensorInfo};
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "recurrent", sources: &[include_str!("recurrent.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    hidden: u32,
    has_state: u32,
    _p0: u32,
    x_off: u32,
    x_bstride: u32,
    s_off: u32,
    y_off: u32,
    g_off: u32,
    g_bstride: u32,
    bias_off: u32,
    _p1: u32,
}

/// What one step needs: hidden size, gates, and where this step's projected input lies.
struct Step {
    hidden: usize,
    gates: usize,
    step: Option<usize>,
    time_major: bool,
    /// Vectors of H per batch element in the state and the output: 1 (h) for a GRU, 2 (h, c) for an LSTM.
    state_rows: usize,
}

fn step_of(op: &Op) -> Option<Step> {
    match op {
        Op::GruCell(c) => Some(Step { hidden: c.hidden, gates: 3, step: c.step, time_major: c.time_major, state_rows: 1 }),
        Op::LstmCell(c) => Some(Step { hidden: c.hidden, gates: 4, step: c.step, time_major: c.time_major, state_rows: 2 }),
        _ => None,
    }
}

/// Rows of the hidden GEMM: B for a GRU (h is the state), 2B - 1 for an LSTM (h and c interleaved).
fn gemm_rows(s: &Step, batch: usize) -> usize {
    s.state_rows * batch - (s.state_rows - 1)
}

/// Where the GEMM's result starts: the first multiple of 4 at or past the end of the output.
fn scratch_start(out: &TensorRef) -> u64 {
    (out.offset + out.numel()).next_multiple_of(4)
}

/// Elements the plan allocates past `node`'s output for the GEMM of a recurrent step with a previous state
/// (0 for every other node).
pub fn scratch_elements(node: &Node) -> u64 {
    match step_of(&node.op) {
        Some(s) if node.inputs.len() == 2 => {
            let n = node.output.numel();
            let rows = gemm_rows(&s, node.output.shape[0]) as u64;
            n.next_multiple_of(4) - n + rows * (s.gates * s.hidden) as u64
        }
        _ => 0,
    }
}

/// The dispatches of a `gru_cell` or `lstm_cell`.
pub fn cell(a: &OpArgs) -> Result<Vec<Dispatch>> {
    let s = step_of(&a.node.op).expect("a recurrent cell");
    let (x, out) = (&a.inputs[0], a.output);
    let (w, bias) = (&a.params[0], &a.params[1]);
    let (h, g) = (s.hidden, s.gates * s.hidden);
    let batch = out.shape()[0];
    // The projected input of this step: row b at x_off + b · x_bstride.
    let (x_off, x_bstride) = match (s.step, s.time_major) {
        (None, _) => (0, g),
        (Some(t), true) => (t * batch * g, g),
        (Some(t), false) => (t * g, x.shape()[1] * g),
    };
    let state = a.inputs.get(1);
    let mut dispatches = Vec::new();
    let g_off = scratch_start(out);
    if let Some(st) = state {
        let rows = gemm_rows(&s, batch);
        let scratch = TensorRef { buffer: out.buffer, offset: g_off, info: TensorInfo::f32([rows, g]) };
        dispatches.extend(dense_into(a, st, w, Some(bias), [rows, g, h], &scratch)?);
    }
    let p = Params {
        batch: u32_of(batch, "the batch")?,
        hidden: u32_of(h, "the hidden size")?,
        has_state: u32::from(state.is_some()),
        _p0: 0,
        x_off: u32_of(x.offset + x_off as u64, "the input offset")?,
        x_bstride: u32_of(x_bstride, "the input stride")?,
        s_off: state.map_or(0, TensorRef::off),
        y_off: out.off(),
        g_off: u32_of(g_off, "the gate offset")?,
        // An LSTM's h rows are the even rows of its GEMM.
        g_bstride: u32_of(g * s.state_rows, "the gate stride")?,
        bias_off: bias.off(),
        _p1: 0,
    };
    let units = out.numel() / s.state_rows as u64;
    let buffers = vec![x.buffer, state.unwrap_or(x).buffer, bias.buffer, out.buffer];
    let lstm = vec![("LSTM", f64::from(u8::from(s.state_rows == 2)))];
    dispatches.push(Dispatch::new(&KERNEL, "main", &p, buffers, grid(units.div_ceil(64), a.caps.max_groups)?).with(lstm));
    Ok(dispatches)
}
