//! Data movement: concatenation, reshapes (free views), permutes, slices, padding and upsampling.

use super::{one_or_many, per_dim};
use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, fmt_shape, norm_axis, numel, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// `concat`: joins inputs along `axis` (default 1, MultiBench's fusion axis). All other axes must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concat {
    #[serde(default = "one_axis")]
    pub axis: i64,
}

fn one_axis() -> i64 {
    1
}

impl OpSpec for Concat {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        if inputs.len() < 2 {
            return Err(format!("takes at least 2 inputs, got {}", inputs.len()));
        }
        let first = &inputs[0];
        let axis = norm_axis(self.axis, first.rank())?;
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for (i, t) in inputs.iter().enumerate() {
            let ok = t.rank() == first.rank()
                && t.dtype == first.dtype
                && t.shape.iter().zip(&first.shape).enumerate().all(|(j, (a, b))| j == axis || a == b);
            if !ok {
                return Err(format!(
                    "input {i} {} does not match input 0 {} outside axis {}",
                    fmt_shape(&t.shape),
                    fmt_shape(&first.shape),
                    self.axis
                ));
            }
            shape[axis] += t.shape[axis];
        }
        Ok(TensorInfo::new(shape, first.dtype))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            bytes_read: inputs.iter().map(|t| t.bytes()).sum(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Movement)
        }
    }
}

/// `reshape`: a free view. `0` keeps the input's size on that axis, `-1` takes what is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reshape {
    pub shape: Vec<i64>,
}

impl Reshape {
    /// A reshape to exactly this shape.
    pub fn to(shape: &[usize]) -> Self {
        Reshape { shape: shape.iter().map(|&d| d as i64).collect() }
    }
}

impl OpSpec for Reshape {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        let mut shape = Vec::with_capacity(self.shape.len());
        let mut infer_at = None;
        for (i, &d) in self.shape.iter().enumerate() {
            match d {
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    shape.push(1);
                }
                -1 => return Err("only one -1 is allowed".into()),
                0 => shape.push(*x.shape.get(i).ok_or_else(|| format!("0 at axis {i} but the input has rank {}", x.rank()))?),
                d if d > 0 => shape.push(d as usize),
                d => return Err(format!("bad size {d}")),
            }
        }
        let known = numel(&shape);
        if let Some(i) = infer_at {
            if known == 0 || !x.numel().is_multiple_of(known) {
                return Err(format!("cannot reshape {} to {:?}", fmt_shape(&x.shape), self.shape));
            }
            shape[i] = (x.numel() / known) as usize;
        }
        if numel(&shape) != x.numel() {
            return Err(format!("cannot reshape {} ({} elements) to {}", fmt_shape(&x.shape), x.numel(), fmt_shape(&shape)));
        }
        Ok(TensorInfo::new(shape, x.dtype))
    }
    fn cost(&self, _: &[TensorInfo], _: &TensorInfo) -> OpCost {
        OpCost::of(OpClass::View)
    }
}

/// `permute`: reorders axes into a contiguous copy. Moving only size-1 axes is a free view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permute {
    pub perm: Vec<usize>,
}

impl Permute {
    /// True when the permutation keeps the order of all axes larger than 1 (no data moves).
    pub fn is_view(&self, shape: &[usize]) -> bool {
        let order: Vec<usize> = self.perm.iter().copied().filter(|&a| shape[a] > 1).collect();
        order.windows(2).all(|w| w[0] < w[1])
    }
}

impl OpSpec for Permute {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        let mut seen = vec![false; x.rank()];
        if self.perm.len() != x.rank() {
            return Err(format!("permutation {:?} has {} axes but the input {} has {}", self.perm, self.perm.len(), fmt_shape(&x.shape), x.rank()));
        }
        for &a in &self.perm {
            if a >= x.rank() || std::mem::replace(&mut seen[a], true) {
                return Err(format!("{:?} is not a permutation of 0..{}", self.perm, x.rank()));
            }
        }
        Ok(TensorInfo::new(self.perm.iter().map(|&a| x.shape[a]).collect::<Vec<_>>(), x.dtype))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        if self.is_view(&inputs[0].shape) {
            return OpCost::of(OpClass::View);
        }
        OpCost { bytes_read: inputs[0].bytes(), bytes_written: out.bytes(), ..OpCost::of(OpClass::Movement) }
    }
}

/// `slice`: positions `[start, end)` of one axis (negative positions count from the end; `end` defaults to the
/// end of the axis). When every axis before it has size 1 the slice is one contiguous block of its input: a
/// free view (the executor reads it at an offset); otherwise a strided copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    pub axis: i64,
    #[serde(default)]
    pub start: i64,
    #[serde(default)]
    pub end: Option<i64>,
}

impl Slice {
    /// Resolved (axis, start, end).
    pub fn resolve(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        let axis = norm_axis(self.axis, shape.len())?;
        let n = shape[axis] as i64;
        let fix = |p: i64| if p < 0 { p + n } else { p };
        let (s, e) = (fix(self.start), fix(self.end.unwrap_or(n)));
        if s < 0 || e > n || s >= e {
            return Err(format!("range [{}, {}) is empty or outside axis {} of size {n}", self.start, self.end.unwrap_or(n), self.axis));
        }
        Ok((axis, s as usize, e as usize))
    }
}

impl OpSpec for Slice {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        let (axis, s, e) = self.resolve(&x.shape)?;
        let mut shape = x.shape.clone();
        shape[axis] = e - s;
        Ok(TensorInfo::new(shape, x.dtype))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        if self.is_view(&inputs[0].shape) {
            return OpCost::of(OpClass::View);
        }
        OpCost { bytes_read: out.bytes(), bytes_written: out.bytes(), ..OpCost::of(OpClass::Movement) }
    }
}

impl Slice {
    /// True when the slice is a contiguous block of its input (all leading axes have size 1).
    pub fn is_view(&self, shape: &[usize]) -> bool {
        match self.resolve(shape) {
            Ok((axis, ..)) => shape[..axis].iter().all(|&d| d == 1),
            Err(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    Zeros,
    Reflect,
    Replicate,
}

/// `pad`: pads every spatial axis (all axes after `[B, C]`) by `padding` on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pad {
    #[serde(deserialize_with = "one_or_many")]
    pub padding: Vec<usize>,
    #[serde(default = "zeros")]
    pub mode: PadMode,
}

fn zeros() -> PadMode {
    PadMode::Zeros
}

impl OpSpec for Pad {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        if x.rank() < 3 {
            return Err(format!("needs [B, C, *spatial], got {}", fmt_shape(&x.shape)));
        }
        let p = per_dim(&self.padding, x.rank() - 2, "padding")?;
        let mut shape = x.shape.clone();
        for (i, &pi) in p.iter().enumerate() {
            if self.mode == PadMode::Reflect && pi >= x.shape[2 + i] {
                return Err(format!("reflect padding {pi} must be smaller than the size {} of axis {}", x.shape[2 + i], 2 + i));
            }
            shape[2 + i] += 2 * pi;
        }
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost { bytes_read: inputs[0].bytes(), bytes_written: out.bytes(), ..OpCost::of(OpClass::Movement) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsampleMode {
    Nearest,
    /// Bilinear for 2 spatial axes, trilinear for 3.
    Linear,
}

/// `upsample`: resizes the spatial axes by `scale` (output = floor(input x scale)) or to `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upsample {
    #[serde(default)]
    pub scale: Option<f64>,
    #[serde(default)]
    pub size: Option<Vec<usize>>,
    #[serde(default = "linear")]
    pub mode: UpsampleMode,
    #[serde(default)]
    pub align_corners: bool,
}

fn linear() -> UpsampleMode {
    UpsampleMode::Linear
}

impl OpSpec for Upsample {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_f32(x, "the input")?;
        if x.rank() < 3 {
            return Err(format!("needs [B, C, *spatial], got {}", fmt_shape(&x.shape)));
        }
        let d = x.rank() - 2;
        let mut shape = x.shape[..2].to_vec();
        match (&self.scale, &self.size) {
            (Some(s), None) if *s > 0.0 && s.is_finite() => {
                shape.extend(x.shape[2..].iter().map(|&n| (n as f64 * s).floor() as usize));
            }
            (None, Some(size)) if size.len() == d => shape.extend(size),
            (None, Some(size)) => return Err(format!("`size` has {} values but the input has {d} spatial axes", size.len())),
            _ => return Err("give exactly one of a positive `scale` or `size`".into()),
        }
        if shape.contains(&0) {
            return Err(format!("output {} has a zero dimension", fmt_shape(&shape)));
        }
        Ok(TensorInfo::f32(shape))
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        let d = (out.rank() - 2) as u32;
        // d-linear interpolation is (2^d - 1) lerps of 3 FLOPs each per output element.
        let per = match self.mode {
            UpsampleMode::Nearest => 0,
            UpsampleMode::Linear => 3 * (2u64.pow(d) - 1),
        };
        OpCost {
            flops: per * out.numel(),
            bytes_read: inputs[0].bytes(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Movement)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_sums_the_axis_and_checks_the_rest() {
        let c = Concat { axis: 1 };
        let y = c.infer(&[TensorInfo::f32([40, 48]), TensorInfo::f32([40, 192])]).unwrap();
        assert_eq!(y.shape, vec![40, 240]);
        assert_eq!(c.cost(&[TensorInfo::f32([40, 48]), TensorInfo::f32([40, 192])], &y).bytes(), 2 * 4 * 40 * 240);
        let err = c.infer(&[TensorInfo::f32([40, 48]), TensorInfo::f32([32, 192])]).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn reshape_infers_minus_one_and_keeps_zero() {
        let r = Reshape { shape: vec![0, -1, 2] };
        assert_eq!(r.infer(&[TensorInfo::f32([3, 8, 4])]).unwrap().shape, vec![3, 16, 2]);
        assert!(Reshape { shape: vec![5, -1] }.infer(&[TensorInfo::f32([3, 4])]).is_err());
        assert_eq!(r.cost(&[], &TensorInfo::f32([1])).kernels, 0);
    }

    #[test]
    fn permute_copies_unless_only_unit_axes_move() {
        let p = Permute { perm: vec![1, 0, 2] };
        let x = TensorInfo::f32([16, 1, 64]);
        assert_eq!(p.infer(std::slice::from_ref(&x)).unwrap().shape, vec![1, 16, 64]);
        assert_eq!(p.cost(std::slice::from_ref(&x), &x).class, OpClass::View);
        let y = TensorInfo::f32([16, 2, 64]);
        assert_eq!(p.cost(std::slice::from_ref(&y), &y).class, OpClass::Movement);
        assert!(Permute { perm: vec![0, 0, 1] }.infer(&[x]).is_err());
    }

    #[test]
    fn slice_and_pad_and_upsample() {
        let s = Slice { axis: 1, start: -1, end: None };
        let x = TensorInfo::f32([1, 15, 768]);
        let y = s.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![1, 1, 768]);
        assert_eq!(s.cost(std::slice::from_ref(&x), &y).class, OpClass::View);
        let x2 = TensorInfo::f32([2, 15, 768]);
        let y2 = s.infer(std::slice::from_ref(&x2)).unwrap();
        assert_eq!(s.cost(std::slice::from_ref(&x2), &y2).class, OpClass::Movement);
        assert!(Slice { axis: 1, start: 3, end: Some(2) }.infer(&[TensorInfo::f32([1, 15])]).is_err());
        let p = Pad { padding: vec![1], mode: PadMode::Reflect };
        assert_eq!(p.infer(&[TensorInfo::f32([1, 1, 8, 8, 8])]).unwrap().shape, vec![1, 1, 10, 10, 10]);
        assert!(Pad { padding: vec![8], mode: PadMode::Reflect }.infer(&[TensorInfo::f32([1, 1, 8, 8])]).is_err());
        let u = Upsample { scale: Some(2.0), size: None, mode: UpsampleMode::Linear, align_corners: true };
        let x = TensorInfo::f32([1, 128, 8, 8, 8]);
        let y = u.infer(std::slice::from_ref(&x)).unwrap();
        assert_eq!(y.shape, vec![1, 128, 16, 16, 16]);
        assert_eq!(u.cost(&[x], &y).flops, 21 * 128 * 16 * 16 * 16);
    }
}
