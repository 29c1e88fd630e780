//! One file per op family. Each family's struct holds exactly what a user writes for it in YAML and
//! implements [`crate::graph::OpSpec`].

mod activation;
mod conv;
mod elementwise;
mod embedding;
mod linear;
mod movement;
mod norm;
mod pool;
mod recurrent;
mod reduce;
mod softmax;
mod source;

pub use activation::{Unary, UnaryFn};
pub use conv::Conv;
pub use elementwise::{Binary, BinaryKind, OuterProduct};
pub use embedding::Embedding;
pub use linear::{Linear, MatMul};
pub use movement::{Concat, Pad, PadMode, Permute, Reshape, Slice, Upsample, UpsampleMode};
pub use norm::{BatchNorm, InstanceNorm, LayerNorm};
pub use pool::{AdaptiveAvgPool, Pool, PoolKind};
pub use recurrent::{GruCell, LstmCell, GRU_POINTWISE_FLOPS_PER_UNIT, LSTM_POINTWISE_FLOPS_PER_UNIT};
pub use reduce::{Reduce, ReduceKind};
pub use softmax::Softmax;
pub use source::{HostWork, Input, Weight, WeightInit, WeightKind};

use serde::{Deserialize, Deserializer};

/// Accepts `3` or `[3, 3]` for per-dimension parameters (kernel, stride, padding).
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SizeOrSizes {
        One(usize),
        Many(Vec<usize>),
    }
    Ok(match SizeOrSizes::deserialize(d)? {
        SizeOrSizes::One(x) => vec![x],
        SizeOrSizes::Many(v) => v,
    })
}

/// `one_or_many` for use outside this module (block parameters).
pub fn one_or_many_pub<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    one_or_many(d)
}

/// `per_dim` for use outside this module.
pub fn per_dim_pub(v: &[usize], dims: usize, what: &str) -> Result<Vec<usize>, String> {
    per_dim(v, dims, what)
}

/// Expands a one-or-many parameter to `dims` values.
pub(crate) fn per_dim(v: &[usize], dims: usize, what: &str) -> Result<Vec<usize>, String> {
    match v.len() {
        1 => Ok(vec![v[0]; dims]),
        n if n == dims => Ok(v.to_vec()),
        n => Err(format!("`{what}` has {n} values, expected 1 or {dims}")),
    }
}

pub(crate) fn one() -> Vec<usize> {
    vec![1]
}
pub(crate) fn zero() -> Vec<usize> {
    vec![0]
}
pub(crate) fn yes() -> bool {
    true
}

/// Bytes of `n` f32 values.
pub(crate) fn f32_bytes(n: u64) -> u64 {
    4 * n
}
