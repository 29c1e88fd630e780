//! Embedding lookup: integer ids `[...]` gather rows of a `[vocab, dim]` table.

use super::f32_bytes;
use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_inputs, DType, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    pub vocab: usize,
    pub dim: usize,
}

impl OpSpec for Embedding {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        if inputs[0].dtype != DType::I64 {
            return Err("the input must hold integer ids (dtype i64)".into());
        }
        if self.vocab == 0 || self.dim == 0 {
            return Err("vocab and dim must be positive".into());
        }
        let mut shape = inputs[0].shape.clone();
        shape.push(self.dim);
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            // Only the gathered rows are read, not the whole table.
            bytes_read: inputs[0].bytes() + out.bytes(),
            bytes_written: out.bytes(),
            params: (self.vocab * self.dim) as u64,
            ..OpCost::of(OpClass::Movement)
        }
    }
}

impl Embedding {
    /// Bytes of the whole table (for memory footprints).
    pub fn table_bytes(&self) -> u64 {
        f32_bytes((self.vocab * self.dim) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_params_and_gather_bytes() {
        // Medical VQA: Embedding(31, 300) on [2, 12] ids -> 9,300 params.
        let e = Embedding { vocab: 31, dim: 300 };
        let ids = TensorInfo::new([2, 12], DType::I64);
        let y = e.infer(std::slice::from_ref(&ids)).unwrap();
        assert_eq!(y.shape, vec![2, 12, 300]);
        let c = e.cost(&[ids], &y);
        assert_eq!(c.params, 9_300);
        assert_eq!(c.bytes_read, 2 * 12 * 8 + 4 * 2 * 12 * 300);
        assert!(e.infer(&[TensorInfo::f32([2, 12])]).is_err());
    }
}
