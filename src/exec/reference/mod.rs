//! The CPU reference: what every op computes, written plainly with ndarray and the parameter layouts of
//! [`super::params`]. It needs no GPU. `mmbench run --check` evaluates it on the GPU's own inputs of each op
//! (so one op's error does not leak into the next) and compares with the GPU's output.
//!
//! One file per op family, like the kernels; a family that gains a kernel adds its reference here too.

mod conv;
mod elementwise;
mod embedding;
mod matmul;
mod movement;
mod pool;
pub(super) mod norm;
mod recurrent;
mod reduce;
mod upsample;

use super::data::{Tensor, source_values, weight_owner};
use super::params::param_specs;
use crate::error::{Error, Location, Result};
use crate::graph::{Node, Op, Workload};
use ndarray::ArrayD;
use petgraph::graph::NodeIndex;

/// The output of `node` for these input values and parameters (in [`param_specs`] order).
pub fn evaluate(node: &Node, inputs: &[&Tensor], params: &[ArrayD<f32>]) -> Result<Tensor> {
    let f32_in = |i: usize| -> Result<&ArrayD<f32>> { inputs[i].f32().map_err(|m| node_error(node, format!("input {i}: {m}"))) };
    let out = match &node.op {
        Op::Linear(l) => Tensor::F32(matmul::linear(f32_in(0)?, &params[0], l.bias.then(|| &params[1]))),
        Op::MatMul(m) => Tensor::F32(matmul::matmul(f32_in(0)?, f32_in(1)?, m.transpose_b, m.scale).map_err(|e| node_error(node, e))?),
        Op::Unary(u) => Tensor::F32(f32_in(0)?.mapv(|x| u.func.apply(x))),
        // Integer operands (a loss multiplying by its targets) are used by their value.
        Op::Binary(b) => Tensor::F32(elementwise::binary(b.kind, &inputs[0].as_values(), &inputs[1].as_values()).map_err(|e| node_error(node, e))?),
        Op::OuterProduct(o) => Tensor::F32(elementwise::outer_product(f32_in(0)?, f32_in(1)?, o.prepend_one_a, o.prepend_one_b)),
        Op::Reduce(r) => Tensor::F32(reduce::reduce(f32_in(0)?, r).map_err(|e| node_error(node, e))?),
        Op::Softmax(s) => Tensor::F32(reduce::softmax(f32_in(0)?, s.axis).map_err(|e| node_error(node, e))?),
        Op::Concat(c) => movement::concat(inputs, c.axis).map_err(|e| node_error(node, e))?,
        Op::Permute(p) => movement::permute(inputs[0], &p.perm),
        Op::Slice(s) => movement::slice(inputs[0], s).map_err(|e| node_error(node, e))?,
        Op::Conv(c) => Tensor::F32(conv::conv(c, f32_in(0)?, &params[0], c.bias.then(|| &params[1]), &node.output.shape).map_err(|e| node_error(node, e))?),
        Op::Pad(p) => Tensor::F32(conv::pad(p, f32_in(0)?).map_err(|e| node_error(node, e))?),
        Op::Reshape(_) => inputs[0].reshaped(&node.output.shape).map_err(|e| node_error(node, e))?,
        Op::Pool(p) => Tensor::F32(pool::pool(f32_in(0)?, p).map_err(|e| node_error(node, e))?),
        Op::AdaptiveAvgPool(a) => Tensor::F32(pool::adaptive_avg_pool(f32_in(0)?, a).map_err(|e| node_error(node, e))?),
        Op::Upsample(u) => Tensor::F32(upsample::upsample(f32_in(0)?, u).map_err(|e| node_error(node, e))?),
        Op::Embedding(_) => match inputs[0] {
            Tensor::U32(ids) => Tensor::F32(embedding::embedding(ids, &params[0]).map_err(|e| node_error(node, e))?),
            Tensor::F32(_) => return Err(node_error(node, "input 0: expected integer ids, got f32 values")),
        },
        Op::BatchNorm(_) => Tensor::F32(norm::batch_norm(f32_in(0)?, &params[0], &params[1], &params[2], &params[3])),
        Op::LayerNorm(l) => Tensor::F32(norm::layer_norm(f32_in(0)?, l.dims, l.affine.then(|| (&params[0], &params[1])))),
        Op::InstanceNorm(n) => Tensor::F32(norm::instance_norm(f32_in(0)?, n.affine.then(|| (&params[0], &params[1])))),
        Op::GruCell(c) => {
            let x = recurrent::step_input(f32_in(0)?, c.step, c.time_major);
            let h = if inputs.len() > 1 { Some(f32_in(1)?) } else { None };
            Tensor::F32(recurrent::gru_cell(x, h, c.hidden, &params[0], &params[1]))
        }
        Op::LstmCell(c) => {
            let x = recurrent::step_input(f32_in(0)?, c.step, c.time_major);
            let state = if inputs.len() > 1 { Some(f32_in(1)?) } else { None };
            Tensor::F32(recurrent::lstm_cell(x, state, c.hidden, &params[0], &params[1]))
        }
        other => return Err(Error::Unsupported(format!("op `{}` has no CPU reference yet", other.kind()))),
    };
    if out.shape() != node.output.shape.as_slice() {
        return Err(node_error(node, format!("the reference produced shape {:?}, the graph says {:?}", out.shape(), node.output.shape)));
    }
    Ok(out)
}

/// The parameter values of `node` (generated from its weight owner, as the GPU plan uploads them).
pub fn params_of(w: &Workload, i: NodeIndex) -> Result<Vec<ArrayD<f32>>> {
    let node = w.node(i);
    let infos: Vec<_> = node.inputs.iter().map(|&p| w.node(p).output.clone()).collect();
    Ok(param_specs(node, &infos)?.iter().map(|s| s.generate(weight_owner(node))).collect())
}

/// Evaluates a whole workload on the CPU from the generated inputs and weights: every node's value, in
/// program order.
pub fn evaluate_workload(w: &Workload) -> Result<Vec<Tensor>> {
    let mut values: Vec<Tensor> = Vec::with_capacity(w.len());
    for (i, node) in w.nodes() {
        let v = match source_values(w, i) {
            Some(v) => v,
            None => {
                let ins: Vec<&Tensor> = node.inputs.iter().map(|p| &values[p.index()]).collect();
                evaluate(node, &ins, &params_of(w, i)?)?
            }
        };
        values.push(v);
    }
    Ok(values)
}

fn node_error(node: &Node, message: impl Into<String>) -> Error {
    Error::input(Location::default().node(&node.name), message)
}

/// Relative L2 error of `got` against `want`: `|got - want| / |want|` (the absolute norm when `want` is all
/// zeros). Any element that is finite in `want` but not in `got` makes it infinite.
pub fn relative_l2(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "compared tensors have the same length");
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        if w.is_finite() && !g.is_finite() {
            return f64::INFINITY;
        }
        if w.is_finite() {
            diff += (f64::from(g) - f64::from(w)).powi(2);
            norm += f64::from(w).powi(2);
        }
    }
    if norm > 0.0 { (diff / norm).sqrt() } else { diff.sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, GraphBuilder, Stage};

    #[test]
    fn a_small_graph_evaluates_to_its_declared_shapes() {
        let mut b = GraphBuilder::new(2);
        b.set_stage(Stage::Encoder, Some("x"));
        let x = b.input("x", &[2, 3, 4], DType::F32).unwrap();
        let y = b.linear("fc", x, 5, true).unwrap();
        let s = b.softmax("sm", y, -1).unwrap();
        let m = b.reduce("mean", crate::graph::ops::ReduceKind::Mean, s, &[1], false).unwrap();
        let w = b.finish("t", "", vec![m]);
        let values = evaluate_workload(&w).unwrap();
        assert_eq!(values[m.index()].shape(), &[2, 5]);
        // Softmax rows sum to one, so their mean over axis 1 sums to one too.
        let total: f32 = values[m.index()].f32().unwrap().index_axis(ndarray::Axis(0), 0).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
    }

    #[test]
    fn relative_error_flags_unwritten_values() {
        assert_eq!(relative_l2(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((relative_l2(&[1.0, 0.0], &[0.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(relative_l2(&[f32::NAN, 2.0], &[1.0, 2.0]).is_infinite());
    }
}
