//! `--check`: every op's GPU output against the CPU reference evaluated on the GPU's own inputs of that op,
//! so an error in one op does not spread into the next. Outputs are filled with NaN before the run, so an
//! element no kernel wrote shows up as `unwritten`.

use super::data::{source_values, Tensor};
use super::execute::Executor;
use super::kernels::TensorRef;
use super::reference::{evaluate, params_of, relative_l2};
use super::{CheckReport, OpCheck};
use crate::error::Result;
use crate::graph::Workload;
use std::collections::HashMap;

/// Buffers read back once each.
struct Readback<'a, 'g> {
    exec: &'a Executor<'g>,
    buffers: HashMap<usize, Vec<u32>>,
}

impl Readback<'_, '_> {
    fn value(&mut self, t: &TensorRef) -> Result<Tensor> {
        if !self.buffers.contains_key(&t.buffer) {
            let words = self.exec.read_buffer(t.buffer)?;
            self.buffers.insert(t.buffer, words);
        }
        let words = &self.buffers[&t.buffer];
        let (start, end) = (t.offset as usize, (t.offset + t.numel()) as usize);
        Ok(Tensor::from_words(t.info.dtype, &t.info.shape, &words[start..end]))
    }
}

/// Runs the workload once and compares every op with the reference.
pub fn check(exec: &Executor, w: &Workload, tolerance: f64) -> Result<CheckReport> {
    exec.poison_outputs()?;
    exec.run_once()?;
    let mut rb = Readback { exec, buffers: HashMap::new() };
    let values = &exec.plan.values;
    let mut ops = Vec::with_capacity(exec.plan.steps.len());
    for step in &exec.plan.steps {
        let node = w.node(step.node);
        let inputs = node.inputs.iter().map(|p| rb.value(&values[p.index()])).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = match source_values(w, step.node) {
            // Host work uploads generated values.
            Some(v) => v,
            None => evaluate(node, &refs, &params_of(w, step.node)?)?,
        };
        let got = rb.value(&values[step.node.index()])?;
        let (rel_l2, unwritten) = compare(&got, &want);
        ops.push(OpCheck { name: node.name.clone(), op: node.op.kind(), rel_l2, unwritten, elements: got.len() as u64 });
    }
    Ok(CheckReport { tolerance, ops })
}

/// Relative L2 error and the number of elements still holding the NaN poison.
fn compare(got: &Tensor, want: &Tensor) -> (f64, u64) {
    match (got, want) {
        (Tensor::F32(g), Tensor::F32(r)) => {
            let (g, r) = (g.as_standard_layout(), r.as_standard_layout());
            let (g, r) = (g.as_slice().expect("standard layout"), r.as_slice().expect("standard layout"));
            let unwritten = g.iter().zip(r).filter(|(a, b)| a.is_nan() && !b.is_nan()).count() as u64;
            (relative_l2(g, r), unwritten)
        }
        (Tensor::U32(g), Tensor::U32(r)) => {
            let poison = f32::NAN.to_bits();
            let unwritten = g.iter().zip(r).filter(|(a, b)| **a == poison && **b != poison).count() as u64;
            (if g == r { 0.0 } else { 1.0 }, unwritten)
        }
        _ => (f64::INFINITY, 0),
    }
}
