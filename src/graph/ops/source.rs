//! Sources: the input tensors of a modality, and opaque host work outside the network (MMBench computes audio
//! features with librosa on the CPU, tokenizes text, decodes images).

use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{DType, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// An input tensor (full shape, batch included). It lives in host memory; the simulator adds the copy to the
/// device that consumes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl OpSpec for Input {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        if !inputs.is_empty() {
            return Err("an input takes no inputs".into());
        }
        if self.shape.contains(&0) {
            return Err(format!("input shape {:?} has a zero dimension", self.shape));
        }
        Ok(TensorInfo::new(self.shape.clone(), self.dtype))
    }
    fn cost(&self, _: &[TensorInfo], _: &TensorInfo) -> OpCost {
        OpCost::of(OpClass::Source)
    }
}

/// Opaque work on the host CPU, described by its FLOPs and bytes per sample, producing a tensor of the given
/// per-sample shape (the batch axis is prepended) and element type (`dtype: i64` for a tokenizer's ids). Its
/// inputs are only dependencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostWork {
    /// What the work is, e.g. `librosa features`.
    pub label: String,
    /// Per-sample output shape, e.g. `[283]`.
    pub output: Vec<usize>,
    /// Floating-point operations per sample.
    #[serde(default)]
    pub flops_per_sample: u64,
    /// Bytes read and written per sample.
    #[serde(default)]
    pub bytes_per_sample: u64,
    /// Cores the work can use (1 for single-threaded Python and NumPy code); all cores when absent.
    #[serde(default)]
    pub threads: Option<u32>,
    /// Element type of the output (f32 unless the work produces ids).
    #[serde(default)]
    pub dtype: DType,
    /// Batch size (set from the workload, not written in YAML).
    #[serde(skip, default = "one_batch")]
    pub batch: usize,
}

fn one_batch() -> usize {
    1
}

impl OpSpec for HostWork {
    fn infer(&self, _inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        if self.output.contains(&0) {
            return Err("host work output has a zero dimension".into());
        }
        if self.threads == Some(0) {
            return Err("`threads` must be at least 1".into());
        }
        let mut shape = vec![self.batch];
        shape.extend(&self.output);
        Ok(TensorInfo::new(shape, self.dtype))
    }
    fn cost(&self, _: &[TensorInfo], output: &TensorInfo) -> OpCost {
        let b = self.batch as u64;
        OpCost {
            flops: self.flops_per_sample * b,
            bytes_read: self.bytes_per_sample * b,
            bytes_written: output.bytes(),
            max_units: self.threads,
            ..OpCost::of(OpClass::Host)
        }
    }
}

/// What a standalone tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightKind {
    /// A registered parameter.
    #[default]
    Param,
    /// Learned but kept outside the framework's parameter registry (MMBench's low-rank fusion factors);
    /// `info` lists these apart.
    Unregistered,
    /// A constant buffer that is not learned (an attention mask): no parameters.
    Buffer,
}

/// What a standalone tensor holds, for the executor that fills it (costs do not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightInit {
    /// Pseudo-random values (learned weights).
    #[default]
    Random,
    Zeros,
    Ones,
    /// 0, 1, 2, ... along the last axis (position ids).
    Arange,
}

/// A tensor that is not owned by a layer (positional tables, low-rank fusion factors, hypernetwork weights,
/// masks, position ids). It is resident on the device like every weight: no copy, no kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    pub shape: Vec<usize>,
    #[serde(default)]
    pub kind: WeightKind,
    #[serde(default)]
    pub dtype: DType,
    #[serde(default)]
    pub init: WeightInit,
}

impl Weight {
    /// A learned or buffer tensor of f32 random values.
    pub fn new(shape: &[usize], kind: WeightKind) -> Self {
        Weight { shape: shape.to_vec(), kind, dtype: DType::F32, init: WeightInit::Random }
    }
}

impl OpSpec for Weight {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        if !inputs.is_empty() {
            return Err("a weight takes no inputs".into());
        }
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err(format!("weight shape {:?} must be non-empty with positive dimensions", self.shape));
        }
        if self.dtype == DType::I64 && self.kind != WeightKind::Buffer {
            return Err("integer tensors can only be buffers (ids), not parameters".into());
        }
        Ok(TensorInfo::new(self.shape.clone(), self.dtype))
    }
    fn cost(&self, _: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let params = if self.kind == WeightKind::Buffer { 0 } else { out.numel() };
        OpCost { params, ..OpCost::of(OpClass::View) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_work_prepends_the_batch_and_may_produce_ids() {
        // A tokenizer: 15 int64 ids per sample (Sarcasm's BERT input, WORKLOADS.md §6.2).
        let yaml = "{label: tokenise, output: [15], flops_per_sample: 1000, bytes_per_sample: 200, dtype: i64}";
        let mut h: HostWork = serde_yaml::from_str(yaml).unwrap();
        h.batch = 2;
        let out = h.infer(&[]).unwrap();
        assert_eq!(out, TensorInfo::new([2, 15], DType::I64));
        let c = h.cost(&[], &out);
        assert_eq!((c.flops, c.bytes_read, c.bytes_written), (2 * 1000, 2 * 200, 2 * 15 * 8));
        assert_eq!(c.class, OpClass::Host);
        // Without `dtype` the output is f32 features.
        let h: HostWork = serde_yaml::from_str("{label: librosa, output: [283]}").unwrap();
        assert_eq!(h.infer(&[]).unwrap(), TensorInfo::f32([1, 283]));
    }
}
