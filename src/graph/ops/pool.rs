//! Pooling: max and average windows (1-D/2-D/3-D), and adaptive average pooling to a fixed output size.

use super::{one_or_many, per_dim, zero};
use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, fmt_shape, numel, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

impl PoolKind {
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        }
    }
}

/// `max_pool{1,2,3}d` / `avg_pool{1,2,3}d` on `[B, C, *spatial]`. Stride defaults to the kernel; output size
/// rounds down unless `ceil_mode`. Average pooling counts padded zeros (PyTorch's default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    #[serde(skip, default = "max")]
    pub kind: PoolKind,
    #[serde(skip, default = "two")]
    pub dims: usize,
    #[serde(deserialize_with = "one_or_many")]
    pub kernel: Vec<usize>,
    #[serde(default, deserialize_with = "opt_one_or_many")]
    pub stride: Option<Vec<usize>>,
    #[serde(default = "zero", deserialize_with = "one_or_many")]
    pub padding: Vec<usize>,
    #[serde(default)]
    pub ceil_mode: bool,
}

fn max() -> PoolKind {
    PoolKind::Max
}
fn two() -> usize {
    2
}
fn opt_one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<usize>>, D::Error> {
    one_or_many(d).map(Some)
}

impl Pool {
    pub fn new(kind: PoolKind, dims: usize, kernel: usize, stride: usize) -> Self {
        Pool { kind, dims, kernel: vec![kernel], stride: Some(vec![stride]), padding: vec![0], ceil_mode: false }
    }

    /// Per-dimension (kernel, stride, padding).
    #[allow(clippy::type_complexity)]
    fn window(&self) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>), String> {
        let k = per_dim(&self.kernel, self.dims, "kernel")?;
        let s = match &self.stride {
            Some(s) => per_dim(s, self.dims, "stride")?,
            None => k.clone(),
        };
        let p = per_dim(&self.padding, self.dims, "padding")?;
        Ok((k, s, p))
    }
}

impl OpSpec for Pool {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        if x.rank() != self.dims + 2 {
            return Err(format!("expects a rank-{} input, got {}", self.dims + 2, fmt_shape(&x.shape)));
        }
        let (k, s, p) = self.window()?;
        let mut shape = x.shape[..2].to_vec();
        for i in 0..self.dims {
            if k[i] == 0 || s[i] == 0 {
                return Err("kernel and stride must be positive".into());
            }
            if 2 * p[i] > k[i] {
                return Err(format!("padding {} exceeds half the kernel {}", p[i], k[i]));
            }
            let span = x.shape[2 + i] + 2 * p[i];
            if span < k[i] {
                return Err(format!("kernel {} is larger than the padded size {span}", k[i]));
            }
            let mut o = if self.ceil_mode { (span - k[i]).div_ceil(s[i]) + 1 } else { (span - k[i]) / s[i] + 1 };
            // PyTorch: the last window must start inside the input or left padding.
            if self.ceil_mode && (o - 1) * s[i] >= x.shape[2 + i] + p[i] {
                o -= 1;
            }
            shape.push(o);
        }
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let (k, ..) = self.window().expect("checked by infer");
        // One compare (max) or add (avg) per window element, plus the division for avg.
        let per = numel(&k) + u64::from(self.kind == PoolKind::Avg);
        OpCost {
            flops: per * out.numel(),
            bytes_read: inputs[0].bytes(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

/// `adaptive_avg_pool{1,2,3}d`: average over PyTorch's adaptive windows to the given output size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveAvgPool {
    #[serde(deserialize_with = "one_or_many")]
    pub output: Vec<usize>,
}

/// PyTorch's adaptive window of output index `i`: `[floor(i*n/o), ceil((i+1)*n/o))`.
pub fn adaptive_window(i: usize, n: usize, o: usize) -> (usize, usize) {
    ((i * n) / o, ((i + 1) * n).div_ceil(o))
}

impl OpSpec for AdaptiveAvgPool {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        let d = self.output.len();
        if d == 0 || x.rank() != d + 2 {
            return Err(format!("output size has {d} dims but the input is {}", fmt_shape(&x.shape)));
        }
        if self.output.contains(&0) {
            return Err("output size must be positive".into());
        }
        let mut shape = x.shape[..2].to_vec();
        shape.extend(&self.output);
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let x = &inputs[0];
        // Sum of window sizes over all outputs: the product over dims of per-dim window-length sums.
        let mut window_sum: u64 = 1;
        for (j, &o) in self.output.iter().enumerate() {
            let n = x.shape[2 + j];
            window_sum *= (0..o).map(|i| adaptive_window(i, n, o)).map(|(a, b)| (b - a) as u64).sum::<u64>();
        }
        let bc = (x.shape[0] * x.shape[1]) as u64;
        OpCost {
            flops: bc * window_sum + out.numel(),
            bytes_read: x.bytes(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Reduction)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxpool_floors_like_pytorch() {
        // LeNet: 7x7 -> 3x3 and 3x3 -> 1x1 with 2x2 windows (WORKLOADS.md §3.3).
        let p = Pool::new(PoolKind::Max, 2, 2, 2);
        assert_eq!(p.infer(&[TensorInfo::f32([1, 12, 7, 7])]).unwrap().shape, vec![1, 12, 3, 3]);
        assert_eq!(p.infer(&[TensorInfo::f32([1, 24, 3, 3])]).unwrap().shape, vec![1, 24, 1, 1]);
        let x = TensorInfo::f32([40, 6, 28, 28]);
        let y = p.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(p.cost(&[x], &y).flops, 4 * 40 * 6 * 14 * 14);
    }

    #[test]
    fn resnet_stem_pool_and_ceil_mode() {
        let p = Pool { padding: vec![1], ..Pool::new(PoolKind::Max, 2, 3, 2) };
        assert_eq!(p.infer(&[TensorInfo::f32([1, 64, 112, 112])]).unwrap().shape, vec![1, 64, 56, 56]);
        let c = Pool { ceil_mode: true, ..Pool::new(PoolKind::Max, 2, 2, 2) };
        assert_eq!(c.infer(&[TensorInfo::f32([1, 1, 7, 7])]).unwrap().shape, vec![1, 1, 4, 4]);
    }

    #[test]
    fn adaptive_pool_windows_cover_input() {
        // TransFuser anchors: 40x176 -> 5x22 gives exact 8x8 windows.
        let a = AdaptiveAvgPool { output: vec![5, 22] };
        let x = TensorInfo::f32([1, 72, 40, 176]);
        let y = a.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![1, 72, 5, 22]);
        assert_eq!(a.cost(&[x], &y).flops, 72 * 40 * 176 + 72 * 5 * 22);
        // Overlapping windows: 7 -> 3 gives windows [0,3) [2,5) [4,7): 9 elements.
        assert_eq!((0..3).map(|i| adaptive_window(i, 7, 3)).map(|(a, b)| b - a).sum::<usize>(), 9);
    }
}
