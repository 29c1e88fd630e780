//! One time step of a recurrent layer, as cuDNN and PyTorch execute it: the input projection of all steps is
//! one `Linear` before the loop (its weights `W_ih`, `b_ih` live there); each step is a GEMM of the hidden state
//! with `W_hh` plus a pointwise gate kernel. A GRU or LSTM layer over T steps is a `Linear` plus T cells that
//! share one weight group.

use super::f32_bytes;
use crate::graph::cost::{GemmShape, OpClass, OpCost};
use crate::graph::tensor::{expect_f32, fmt_shape, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// Pointwise FLOPs per hidden unit of a GRU step: r and z gates (add + sigmoid 4) = 10, candidate
/// (multiply, add, tanh 5) = 7, blend `n + z (h - n)` = 3.
pub const GRU_POINTWISE_FLOPS_PER_UNIT: u64 = 20;
/// Pointwise FLOPs per hidden unit of an LSTM step: i, f, o gates (add + sigmoid) = 15, g (add + tanh) = 6,
/// `c = f c + i g` = 3, `h = o tanh(c)` = 6.
pub const LSTM_POINTWISE_FLOPS_PER_UNIT: u64 = 30;

/// Checks `(projected inputs, optional previous state)` and returns (batch, the gate width).
fn check_step(
    inputs: &[TensorInfo],
    step: Option<usize>,
    time_major: bool,
    hidden: usize,
    gates: usize,
    state_shape: &dyn Fn(usize) -> Vec<usize>,
) -> Result<usize, String> {
    if inputs.is_empty() || inputs.len() > 2 {
        return Err(format!("takes the projected input and optionally the previous state, got {} inputs", inputs.len()));
    }
    let x = &inputs[0];
    expect_f32(x, "the projected input")?;
    let want = gates * hidden;
    let (t_axis, b_axis) = if time_major { (0, 1) } else { (1, 0) };
    let b = match (x.rank(), step) {
        (2, None) if x.shape[1] == want => x.shape[0],
        (3, Some(t)) if x.shape[2] == want => {
            if t >= x.shape[t_axis] {
                return Err(format!("step {t} is beyond the {} steps of {}", x.shape[t_axis], fmt_shape(&x.shape)));
            }
            x.shape[b_axis]
        }
        _ => {
            let seq = if time_major { "[T, B, ...]" } else { "[B, T, ...]" };
            return Err(format!(
                "expects the projected input as [B, {want}] (or {seq} with `step`), got {}",
                fmt_shape(&x.shape)
            ));
        }
    };
    if let Some(h) = inputs.get(1)
        && h.shape != state_shape(b) {
            return Err(format!("previous state must be {}, got {}", fmt_shape(&state_shape(b)), fmt_shape(&h.shape)));
        }
    Ok(b)
}

/// One step: the hidden GEMM `h · W_hh + b_hh` and the pointwise gates. Without a previous state (the first
/// step) h is zero, so there is no GEMM: the gates read the bias (one kernel, as cuDNN and mmbench's
/// executor do it).
fn step_cost(b: u64, hidden: u64, gates: u64, pointwise: u64, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
    let params = gates * hidden * hidden + gates * hidden;
    let x_slice = b * gates * hidden * 4;
    let bias_add = b * gates * hidden + pointwise * b * hidden;
    let Some(state) = inputs.get(1) else {
        return OpCost {
            flops: bias_add,
            bytes_read: x_slice + f32_bytes(gates * hidden),
            bytes_written: out.bytes(),
            params,
            kernels: 1,
            ..OpCost::of(OpClass::Elementwise)
        };
    };
    OpCost {
        flops: 2 * b * hidden * gates * hidden + bias_add,
        bytes_read: x_slice + state.bytes() + f32_bytes(params),
        bytes_written: out.bytes(),
        params,
        gemm: Some(GemmShape { batch: 1, m: b, n: gates * hidden, k: hidden, taps: 1 }),
        kernels: 2,
        ..OpCost::of(OpClass::Matmul)
    }
}

/// `gru_cell`: inputs `x_proj` (`[B, 3H]`, or `[B, T, 3H]` with `step`) and optionally `h_prev [B, H]` (zeros
/// when absent); output `h [B, H]`. Parameters: `W_hh [3H, H]` and `b_hh [3H]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GruCell {
    pub hidden: usize,
    /// The time step to read from a `[B, T, G]` projected sequence.
    #[serde(default)]
    pub step: Option<usize>,
    /// The projected sequence is `[T, B, G]`.
    #[serde(default)]
    pub time_major: bool,
}

impl OpSpec for GruCell {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        let h = self.hidden;
        let b = check_step(inputs, self.step, self.time_major, h, 3, &|b| vec![b, h])?;
        Ok(TensorInfo::f32([b, h]))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        step_cost(out.shape[0] as u64, self.hidden as u64, 3, GRU_POINTWISE_FLOPS_PER_UNIT, inputs, out)
    }
}

/// `lstm_cell`: inputs `x_proj` (`[B, 4H]`, or `[B, T, 4H]` with `step`) and optionally the previous state
/// `[B, 2, H]` (h then c; zeros when absent); output the new state `[B, 2, H]`. Parameters: `W_hh [4H, H]`,
/// `b_hh [4H]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmCell {
    pub hidden: usize,
    /// The time step to read from a `[B, T, G]` projected sequence.
    #[serde(default)]
    pub step: Option<usize>,
    /// The projected sequence is `[T, B, G]`.
    #[serde(default)]
    pub time_major: bool,
}

impl OpSpec for LstmCell {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        let h = self.hidden;
        let b = check_step(inputs, self.step, self.time_major, h, 4, &|b| vec![b, 2, h])?;
        Ok(TensorInfo::f32([b, 2, h]))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        step_cost(out.shape[0] as u64, self.hidden as u64, 4, LSTM_POINTWISE_FLOPS_PER_UNIT, inputs, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gru_step_hand_count() {
        // CMU-MOSEI vision GRU, hidden 70, batch 32: W_hh 210x70 + b_hh 210 = 14,910 params per cell.
        let c = GruCell { hidden: 70, step: Some(3), time_major: false };
        let x = TensorInfo::f32([32, 50, 210]);
        let h = TensorInfo::f32([32, 70]);
        let y = c.infer(&[x.clone(), h.clone()]).unwrap();
        assert_eq!(y.shape, vec![32, 70]);
        let cost = c.cost(&[x, h], &y);
        assert_eq!(cost.params, 210 * 70 + 210);
        assert_eq!(cost.flops, 2 * 32 * 70 * 210 + 32 * 210 + 20 * 32 * 70);
        assert_eq!(cost.kernels, 2);
        // The first step has no state: no GEMM, one kernel, the bias and the gates.
        let x = TensorInfo::f32([32, 50, 210]);
        let first = c.cost(std::slice::from_ref(&x), &y);
        assert_eq!((first.flops, first.kernels, first.gemm), (32 * 210 + 20 * 32 * 70, 1, None));
        assert_eq!(first.bytes_read, (32 * 210 + 210) * 4);
    }

    #[test]
    fn lstm_state_is_h_and_c() {
        let c = LstmCell { hidden: 1024, step: None, time_major: false };
        let y = c.infer(&[TensorInfo::f32([2, 4096])]).unwrap();
        assert_eq!(y.shape, vec![2, 2, 1024]);
        assert_eq!(c.cost(&[TensorInfo::f32([2, 4096])], &y).params, 4 * 1024 * 1024 + 4096);
        assert!(c.infer(&[TensorInfo::f32([2, 4096]), TensorInfo::f32([2, 1024])]).unwrap_err().contains("previous state"));
        assert!(c.infer(&[TensorInfo::f32([2, 300])]).unwrap_err().contains("projected input"));
        let tm = LstmCell { hidden: 4, step: Some(11), time_major: true };
        assert_eq!(tm.infer(&[TensorInfo::f32([12, 2, 16])]).unwrap().shape, vec![2, 2, 4]);
    }
}
