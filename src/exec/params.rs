//! Parameter layouts: which tensors an op with parameters owns, in which order, with which shape and fill.
//! The GPU kernels and the CPU reference both read parameters in exactly these layouts; every tensor is
//! row-major (the last axis varies fastest).
//!
//! | op | tensors (in order) | layout |
//! |---|---|---|
//! | `linear` | `weight [in, out]`, `bias [out]` (when `bias`) | `y = x · weight + bias`: row `i` of `weight` holds the weights of input feature `i` (the transpose of PyTorch's `[out, in]`, so the GEMM reads both operands row-major) |
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
