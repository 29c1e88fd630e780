//! Parameter layouts: which tensors an op with parameters owns, in which order, with which shape and fill.
//! The GPU kernels and the CPU reference both read parameters in exactly these layouts; every tensor is
//! row-major (the last axis varies fastest).
//!
//! | op | tensors (in order) | layout |
//! |---|---|---|
//! | `linear` | `weight [in, out]`, `bias [out]` (when `bias`) | `y = x · weight + bias`: row `i` of `weight` holds the weights of input feature `i` (the transpose of PyTorch's `[out, in]`, so the GEMM reads both operands row-major) |
//! | `embedding` | `weight [vocab, dim]` | row `id` is the vector of token `id`, as in PyTorch's `nn.Embedding`; filled uniform in `±√3`, a stand-in for its N(0, 1) init with the same mean and variance |
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
