//! Reference reductions (mean, sum, max over axes) and softmax. Sums accumulate in f64 so that the
//! reference is more accurate than what it checks.

use crate::graph::ops::{Reduce, ReduceKind};
use crate::graph::tensor::norm_axis;
use ndarray::{ArrayD, Axis};

pub fn reduce(x: &ArrayD<f32>, r: &Reduce) -> Result<ArrayD<f32>, String> {
    let axes = r.resolved_axes(x.ndim())?;
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let mut acc = x.mapv(f64::from);
    // Highest axis first, so the lower axis numbers stay valid.
    for &a in axes.iter().rev() {
        acc = match r.kind {
            ReduceKind::Max => acc.fold_axis(Axis(a), f64::NEG_INFINITY, |&m, &v| m.max(v)),
            ReduceKind::Mean | ReduceKind::Sum => acc.sum_axis(Axis(a)),
        };
    }
    if r.kind == ReduceKind::Mean {
        acc /= count as f64;
    }
    if r.keepdim {
        for &a in &axes {
            acc.insert_axis_inplace(Axis(a));
        }
    }
    Ok(acc.mapv(|v| v as f32))
}

/// `exp(x - max) / sum(exp(x - max))` along `axis`.
pub fn softmax(x: &ArrayD<f32>, axis: i64) -> Result<ArrayD<f32>, String> {
    let a = norm_axis(axis, x.ndim())?;
    let mut y = x.to_owned();
    for mut lane in y.lanes_mut(Axis(a)) {
        let max = lane.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let sum: f64 = lane.iter().map(|&v| f64::from((v - max).exp())).sum();
        lane.mapv_inplace(|v| (f64::from((v - max).exp()) / sum) as f32);
    }
    Ok(y)
}
