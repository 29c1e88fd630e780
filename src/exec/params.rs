//! Parameter layouts: which tensors an op with parameters owns, in which order, with which shape and fill.
//! The GPU kernels and the CPU reference both read parameters in exactly these layouts; every tensor is
//! row-major (the last axis varies fastest).
//!
//! | op | tensors (in order) | layout |
//! |---|---|---|
//! | `linear` | `weight [in, out]`, `bias [out]` (when `bias`) | `y = x · weight + bias`: row `i` of `weight` holds the weights of input feature `i` (the transpose of PyTorch's `[out, in]`, so the GEMM reads both operands row-major) |
//! | `embedding` | `weight [vocab, dim]` | row `id` is the vector of token `id`, as in PyTorch's `nn.Embedding`; filled uniform in `±√3`, a stand-in for its N(0, 1) init with the same mean and variance |
//! | `batch_norm` | `weight [C]`, `bias [C]`, `running_mean [C]`, `running_var [C]` | PyTorch's four tensors, kept apart (inference: `y = (x - running_mean) / sqrt(running_var + eps) · weight + bias` per channel); `running_var` is drawn in `[0.5, 1.5)`, so it is positive |
//! | `layer_norm` | `weight [*normalized]`, `bias [*normalized]` (when `affine`) | the shape of the last `dims` axes of the input, as PyTorch's `normalized_shape` |
//! | `instance_norm` | `weight [C]`, `bias [C]` (when `affine`) | one scale and shift per channel |
//! | `gru_cell` | `weight_hh [H, 3H]`, `bias_hh [3H]` | `h · weight_hh + bias_hh`, gates in PyTorch's order r, z, n along the columns; the transpose of PyTorch's `weight_hh_l0 [3H, H]` (row-major for the GEMM, like `linear`); `W_ih`, `b_ih` belong to the `linear` before the cells |
//! | `lstm_cell` | `weight_hh [H, 4H]`, `bias_hh [4H]` | as `gru_cell`, gates i, f, g, o |
//! | `conv{1,2,3}d`, `conv_transpose{1,2,3}d` | `weight [k..., in/groups, out]` (transposed: `[k..., in, out/groups]`), `bias [out]` (when `bias`) | kernel axes first, then the input channel, then the output channel: PyTorch's `[out, in/groups, k...]` (transposed: `[in, out/groups, k...]`) with its axes rotated so that each (tap, input channel) row holds the output channels contiguously, which the implicit GEMM reads as its row-major B with vec4 loads (as `linear` reads `[in, out]`); group `g` owns input channels `g·in/groups ..` and output channels `g·out/groups ..` |
//!
//! A family that adds parameters adds one arm here and one row to this table.

use super::data::{Init, ParamSpec};
use crate::error::{Error, Result};
use crate::graph::{Node, Op, TensorInfo};

/// The parameter tensors of `node` whose inputs are `inputs`, in the order kernels and the reference take
/// them. An op that has parameters in the cost model but no layout here is an error, so that a new family
/// cannot silently run without its weights.
pub fn param_specs(node: &Node, inputs: &[TensorInfo]) -> Result<Vec<ParamSpec>> {
    let specs = match &node.op {
        Op::Linear(l) => {
            let fan_in = *inputs[0].shape.last().expect("linear input has rank >= 1");
            let mut v = vec![ParamSpec::new("weight", [fan_in, l.out], Init::fan_in(fan_in))];
            if l.bias {
                v.push(ParamSpec::new("bias", [l.out], Init::fan_in(fan_in)));
            }
            v
        }
        Op::Embedding(e) => {
            let bound = 3f32.sqrt();
            vec![ParamSpec::new("weight", [e.vocab, e.dim], Init::Uniform { low: -bound, high: bound })]
        }
        Op::BatchNorm(_) => {
            let c = [inputs[0].shape[1]];
            vec![
                ParamSpec::new("weight", c, AFFINE_SCALE),
                ParamSpec::new("bias", c, AFFINE_SHIFT),
                ParamSpec::new("running_mean", c, AFFINE_SHIFT),
                ParamSpec::new("running_var", c, AFFINE_SCALE),
            ]
        }
        Op::LayerNorm(l) if l.affine => {
            let shape = &inputs[0].shape[inputs[0].rank() - l.dims..];
            vec![ParamSpec::new("weight", shape, AFFINE_SCALE), ParamSpec::new("bias", shape, AFFINE_SHIFT)]
        }
        Op::InstanceNorm(n) if n.affine => {
            let c = [inputs[0].shape[1]];
            vec![ParamSpec::new("weight", c, AFFINE_SCALE), ParamSpec::new("bias", c, AFFINE_SHIFT)]
        }
        Op::GruCell(c) => recurrent_specs(c.hidden, 3),
        Op::LstmCell(c) => recurrent_specs(c.hidden, 4),
        Op::Conv(c) => {
            let (shape, fan_in) = c.weight_layout(inputs[0].shape[1]).map_err(Error::Unsupported)?;
            let mut v = vec![ParamSpec::new("weight", shape, Init::fan_in(fan_in))];
            if c.bias {
                v.push(ParamSpec::new("bias", [c.out], Init::fan_in(fan_in)));
            }
            v
        }
        // Standalone weights are sources: their values come from `data::source_values`.
        Op::Weight(_) => vec![],
        // Every family with parameters adds its layout together with its kernel.
        _ if node.cost.params > 0 => {
            return Err(Error::Unsupported(format!("op `{}` has no kernel yet (nor a parameter layout)", node.op.kind())));
        }
        _ => vec![],
    };
    Ok(specs)
}

/// Normalization scales (and running variances): around 1, never 0 or negative. PyTorch starts them at
/// exactly 1; random values let a check see a kernel that forgets them.
const AFFINE_SCALE: Init = Init::Uniform { low: 0.5, high: 1.5 };
/// Normalization shifts (and running means): around 0.
const AFFINE_SHIFT: Init = Init::Uniform { low: -0.5, high: 0.5 };

/// `weight_hh [H, gates · H]` and `bias_hh [gates · H]`, both uniform in `±1/sqrt(H)` as PyTorch draws them.
fn recurrent_specs(hidden: usize, gates: usize) -> Vec<ParamSpec> {
    let init = Init::fan_in(hidden);
    vec![ParamSpec::new("weight_hh", [hidden, gates * hidden], init), ParamSpec::new("bias_hh", [gates * hidden], init)]
}
