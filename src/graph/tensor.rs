//! Tensor descriptions (shape and element type) and the shape rules shared by several op families.

use serde::{Deserialize, Serialize};

/// Element type of a tensor. Every activation and weight of MMBench is fp32; token ids are int64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    #[default]
    F32,
    I64,
}

impl DType {
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::I64 => 8,
        }
    }
}

/// Shape and element type of one tensor. Shapes are in PyTorch order (`[B, C, H, W]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TensorInfo {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl TensorInfo {
    pub fn f32(shape: impl Into<Vec<usize>>) -> Self {
        TensorInfo { shape: shape.into(), dtype: DType::F32 }
    }
    pub fn new(shape: impl Into<Vec<usize>>, dtype: DType) -> Self {
        TensorInfo { shape: shape.into(), dtype }
    }
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        numel(&self.shape)
    }
    /// Size in bytes (saturating, as [`numel`]).
    pub fn bytes(&self) -> u64 {
        self.numel().saturating_mul(self.dtype.size_bytes())
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// Product of the dimensions (1 for a scalar), saturating at `u64::MAX`: a shape past 2^64 elements must not
/// wrap to a small count (`[2^32, 2^32, 2^32]` to 0) and slip past the size checks of the graph builder.
pub fn numel(shape: &[usize]) -> u64 {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).unwrap_or(u64::MAX)
}

/// `[1, 2, 3]` as text, for error messages.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Resolves a possibly negative axis (`-1` = last) against a rank.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        Err(format!("axis {axis} is out of range for a tensor of rank {rank}"))
    } else {
        Ok(a as usize)
    }
}

/// NumPy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() { 1 } else { a[i - (n - a.len())] };
        let db = if i < n - b.len() { 1 } else { b[i - (n - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {} and {} do not broadcast", fmt_shape(a), fmt_shape(b))),
        };
    }
    Ok(out)
}

/// Checks the number of inputs of an op.
pub fn expect_inputs(inputs: &[TensorInfo], n: usize) -> Result<(), String> {
    if inputs.len() != n {
        let s = if n == 1 { "" } else { "s" };
        return Err(format!("takes {n} input{s}, got {}", inputs.len()));
    }
    Ok(())
}

/// Checks that an input holds floats.
pub fn expect_f32(t: &TensorInfo, what: &str) -> Result<(), String> {
    if t.dtype != DType::F32 {
        return Err(format!("{what} must be f32, got {:?}", t.dtype));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast(&[5], &[2, 5]).unwrap(), vec![2, 5]);
        assert!(broadcast(&[2, 3], &[4, 3]).is_err());
    }

    #[test]
    fn negative_axes_count_from_the_end() {
        assert_eq!(norm_axis(-1, 3).unwrap(), 2);
        assert_eq!(norm_axis(0, 3).unwrap(), 0);
        assert!(norm_axis(3, 3).is_err());
        assert!(norm_axis(-4, 3).is_err());
    }
}
