//! Host-side values of a run: the tensors the executor uploads (inputs, standalone weights, op parameters),
//! drawn from a fixed-seed generator so that every run, and the CPU reference, sees the same numbers.
//!
//! Values do not matter for timing, but they must be the same on the GPU and in the reference, and they
//! must stay in ranges where every op is well conditioned (no overflow in `exp`, ids inside the vocabulary).

use crate::graph::{DType, Node, Op, Workload};
use crate::graph::ops::{WeightInit, WeightKind};
use ndarray::{ArrayD, IxDyn};
use petgraph::graph::NodeIndex;
use serde::Serialize;

/// The seed every tensor's generator derives from (the bytes of "mmbench").
pub const SEED: u64 = 0x006d_6d62_656e_6368;

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit counter passed through a strong mixing function.
/// Small, fast, and good enough to fill tensors; each tensor gets its own stream from [`seed_for`].
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 24 random bits (every value is exactly representable).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next_f32()
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift; `n > 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// The generator seed of the tensor called `key`: FNV-1a of the key mixed into [`SEED`]. Keying by name (not
/// by position) keeps a tensor's values stable when other nodes are added or removed.
pub fn seed_for(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ SEED
}

/// A tensor on the host: f32 values, or integer ids. Ids are u32 because WGSL has no 64-bit integers; the
/// workload's `i64` inputs become `u32` on the GPU and here.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    U32(ArrayD<u32>),
}

impl Tensor {
    /// The values as f32: ids by their value (the copy is cheap next to the reference's own work).
    pub fn as_values(&self) -> ArrayD<f32> {
        match self {
            Tensor::F32(a) => a.clone(),
            Tensor::U32(a) => a.mapv(|v| v as f32),
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::U32(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 values, or an error naming what was expected.
    pub fn f32(&self) -> Result<&ArrayD<f32>, String> {
        match self {
            Tensor::F32(a) => Ok(a),
            Tensor::U32(_) => Err("expected f32 values, got integer ids".into()),
        }
    }

    /// The values in row-major order as raw 32-bit words (what a GPU buffer holds).
    pub fn to_words(&self) -> Vec<u32> {
        match self {
            Tensor::F32(a) => a.iter().map(|v| v.to_bits()).collect(),
            Tensor::U32(a) => a.iter().copied().collect(),
        }
    }

    /// A tensor of `dtype` and `shape` from raw row-major 32-bit words (what a GPU buffer held).
    pub fn from_words(dtype: DType, shape: &[usize], words: &[u32]) -> Self {
        let dim = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::from_shape_vec(dim, words.iter().map(|&w| f32::from_bits(w)).collect()).expect("length matches shape")),
            DType::I64 => Tensor::U32(ArrayD::from_shape_vec(dim, words.to_vec()).expect("length matches shape")),
        }
    }

    /// The same values under another shape with as many elements (a reshape view).
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor, String> {
        let err = |e: ndarray::ShapeError| format!("cannot view {:?} as {shape:?}: {e}", self.shape());
        Ok(match self {
            Tensor::F32(a) => Tensor::F32(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(shape)).map_err(err)?),
            Tensor::U32(a) => Tensor::U32(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(shape)).map_err(err)?),
        })
    }
}

/// How a parameter tensor is filled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Uniform in `[low, high)`.
    Uniform { low: f32, high: f32 },
    /// Every element the same.
    Const(f32),
}

impl Init {
    /// PyTorch's default for Linear and convolutions: uniform in `±1/sqrt(fan_in)`.
    pub fn fan_in(fan_in: usize) -> Self {
        let b = 1.0 / (fan_in.max(1) as f32).sqrt();
        Init::Uniform { low: -b, high: b }
    }
}

/// One parameter tensor of an op: its name within the op (`weight`, `bias`), shape and fill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ParamSpec {
    pub fn new(name: &'static str, shape: impl Into<Vec<usize>>, init: Init) -> Self {
        ParamSpec { name, shape: shape.into(), init }
    }

    /// The values of this parameter of the weight owner `owner` (a node name or weight group).
    pub fn generate(&self, owner: &str) -> ArrayD<f32> {
        fill(&self.shape, self.init, &format!("{owner}/{}", self.name))
    }
}

/// A tensor of `shape` filled by `init` from the stream of `key`.
pub fn fill(shape: &[usize], init: Init, key: &str) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = match init {
        Init::Const(c) => vec![c; n],
        Init::Uniform { low, high } => {
            let mut g = SplitMix64::new(seed_for(key));
            (0..n).map(|_| g.uniform(low, high)).collect()
        }
    };
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("length matches shape")
}

/// Who owns a node's parameters: its weight group when it shares them (recurrent steps, ALBERT's layers),
/// else the node itself. Nodes with the same owner get the same values (and, on the GPU, the same buffers).
pub fn weight_owner(node: &Node) -> &str {
    node.weight_group.as_deref().unwrap_or(&node.name)
}

/// Ids drawn for an integer input that feeds no embedding.
pub const DEFAULT_ID_BOUND: u32 = 16;

/// How a source tensor's values are drawn: what [`source_values`] generates, as data, so that another
/// runtime (the PyTorch runner, through `mmbench export`) draws exactly the same numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fill", rename_all = "snake_case")]
pub enum SourceFill {
    /// f32 uniform in `[low, high)` from the stream of `key` ([`fill`]).
    Uniform { low: f32, high: f32, key: String },
    /// Every f32 element `value`.
    Const { value: f32 },
    /// f32 element `k` is `k % last axis` (position values).
    Arange,
    /// Ids uniform below `bound` from the stream of `key` ([`SplitMix64::below`]).
    Ids { bound: u32, key: String },
    /// Id `k` is `(k % last axis) % bound` (position ids).
    IdsArange { bound: u32 },
    /// Every id `value`.
    IdsConst { value: u32 },
}

impl SourceFill {
    /// The tensor of `shape` this fill draws.
    pub fn generate(&self, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let last = *shape.last().unwrap_or(&1);
        let ids = |v: Vec<u32>| Tensor::U32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape"));
        match self {
            SourceFill::Uniform { low, high, key } => Tensor::F32(fill(shape, Init::Uniform { low: *low, high: *high }, key)),
            SourceFill::Const { value } => Tensor::F32(fill(shape, Init::Const(*value), "")),
            SourceFill::Arange => Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|k| (k % last) as f32).collect()).expect("length matches shape")),
            SourceFill::Ids { bound, key } => {
                let mut g = SplitMix64::new(seed_for(key));
                ids((0..n).map(|_| g.below(*bound)).collect())
            }
            SourceFill::IdsArange { bound } => ids((0..n).map(|k| (k % last) as u32 % bound).collect()),
            SourceFill::IdsConst { value } => ids(vec![*value; n]),
        }
    }
}

/// How the values of a source node are drawn: an `Input` (f32 uniform in `[-1, 1)`; ids uniform below the
/// smallest vocabulary of the embeddings it feeds, through views) or a standalone `Weight` (parameters uniform
/// in `±1/sqrt(last axis)`, constant buffers such as masks uniform in `[0, 1)`). `None` for other nodes.
pub fn source_fill(w: &Workload, i: NodeIndex) -> Option<SourceFill> {
    let node = w.node(i);
    let key = node.name.clone();
    match &node.op {
        // Host work stands for a transformation mmbench does not run (a decoder, a tokenizer): its output is
        // generated like an input's.
        Op::Input(_) | Op::HostWork(_) => Some(match node.output.dtype {
            DType::F32 => SourceFill::Uniform { low: -1.0, high: 1.0, key },
            DType::I64 => SourceFill::Ids { bound: id_bound(w, i), key },
        }),
        // Id buffers (position ids 0..L, all-zero token types), kept below the vocabularies they index.
        Op::Weight(wt) if wt.dtype == DType::I64 => {
            let bound = id_bound(w, i).max(1);
            Some(match wt.init {
                WeightInit::Arange => SourceFill::IdsArange { bound },
                WeightInit::Ones => SourceFill::IdsConst { value: 1 % bound },
                WeightInit::Zeros | WeightInit::Random => SourceFill::IdsConst { value: 0 },
            })
        }
        Op::Weight(wt) => Some(match (wt.init, wt.kind) {
            (WeightInit::Zeros, _) => SourceFill::Const { value: 0.0 },
            (WeightInit::Ones, _) => SourceFill::Const { value: 1.0 },
            (WeightInit::Arange, _) => SourceFill::Arange,
            (WeightInit::Random, kind) => {
                let init = match kind {
                    WeightKind::Buffer => Init::Uniform { low: 0.0, high: 1.0 },
                    WeightKind::Param | WeightKind::Unregistered => Init::fan_in(*wt.shape.last().unwrap_or(&1)),
                };
                let Init::Uniform { low, high } = init else { unreachable!("random weights are uniform") };
                SourceFill::Uniform { low, high, key: weight_owner(node).to_string() }
            }
        }),
        _ => None,
    }
}

/// The values of a source node ([`source_fill`]); `None` for other nodes.
pub fn source_values(w: &Workload, i: NodeIndex) -> Option<Tensor> {
    let shape = &w.node(i).output.shape;
    source_fill(w, i).map(|f| f.generate(shape))
}

/// The smallest vocabulary among the embeddings that read node `i`, looking through views (reshapes, view
/// slices and permutes) that pass the ids on unchanged.
fn id_bound(w: &Workload, i: NodeIndex) -> u32 {
    let mut bound: Option<u32> = None;
    let mut stack = vec![i];
    while let Some(n) = stack.pop() {
        for c in w.consumers(n) {
            match &w.node(c).op {
                Op::Embedding(e) => bound = Some(bound.map_or(e.vocab as u32, |b| b.min(e.vocab as u32))),
                Op::Reshape(_) | Op::Slice(_) | Op::Permute(_) | Op::Concat(_) => stack.push(c),
                _ => {}
            }
        }
    }
    bound.unwrap_or(DEFAULT_ID_BOUND).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_in_range() {
        let a = fill(&[4, 5], Init::Uniform { low: -0.5, high: 0.5 }, "x");
        let b = fill(&[4, 5], Init::Uniform { low: -0.5, high: 0.5 }, "x");
        let c = fill(&[4, 5], Init::Uniform { low: -0.5, high: 0.5 }, "y");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&v| (-0.5..0.5).contains(&v)));
        let mut g = SplitMix64::new(1);
        assert!((0..1000).all(|_| g.below(7) < 7));
    }

    #[test]
    fn words_round_trip() {
        let t = Tensor::F32(fill(&[3, 2], Init::Const(1.5), "k"));
        assert_eq!(Tensor::from_words(DType::F32, &[3, 2], &t.to_words()), t);
        assert_eq!(t.reshaped(&[6]).unwrap().shape(), &[6]);
    }
}
