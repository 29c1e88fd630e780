//! Reference data movement: concat, permute and slice copies, for f32 values and integer ids alike.

use crate::exec::data::Tensor;
use crate::graph::ops::Slice;
use crate::graph::tensor::norm_axis;
use ndarray::{ArrayD, Axis};

pub fn concat(inputs: &[&Tensor], axis: i64) -> Result<Tensor, String> {
    let a = Axis(norm_axis(axis, inputs[0].shape().len())?);
    let err = |e: ndarray::ShapeError| e.to_string();
    match inputs[0] {
        Tensor::F32(_) => {
            let views = inputs.iter().map(|t| t.f32().map(|a| a.view())).collect::<Result<Vec<_>, _>>()?;
            Ok(Tensor::F32(ndarray::concatenate(a, &views).map_err(err)?))
        }
        Tensor::U32(_) => {
            let views = inputs
                .iter()
                .map(|t| match t {
                    Tensor::U32(x) => Ok(x.view()),
                    Tensor::F32(_) => Err("cannot concatenate ids with floats".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Tensor::U32(ndarray::concatenate(a, &views).map_err(err)?))
        }
    }
}

pub fn permute(x: &Tensor, perm: &[usize]) -> Tensor {
    fn go<T: Clone>(a: &ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
        a.view().permuted_axes(perm.to_vec()).as_standard_layout().into_owned()
    }
    match x {
        Tensor::F32(a) => Tensor::F32(go(a, perm)),
        Tensor::U32(a) => Tensor::U32(go(a, perm)),
    }
}

pub fn slice(x: &Tensor, s: &Slice) -> Result<Tensor, String> {
    let (axis, start, end) = s.resolve(x.shape())?;
    fn go<T: Clone>(a: &ArrayD<T>, axis: usize, start: usize, end: usize) -> ArrayD<T> {
        a.slice_axis(Axis(axis), ndarray::Slice::from(start..end)).as_standard_layout().into_owned()
    }
    Ok(match x {
        Tensor::F32(a) => Tensor::F32(go(a, axis, start, end)),
        Tensor::U32(a) => Tensor::U32(go(a, axis, start, end)),
    })
}
