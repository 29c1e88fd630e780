//! The operator catalogue: one enum lists every op mmbench knows. Each family lives in its own file under
//! `ops/` and answers the same two questions through [`OpSpec`]: the output tensor for given inputs, and the
//! hardware-independent cost.

use super::cost::OpCost;
use super::ops::*;
use super::tensor::TensorInfo;
use serde::Serialize;

/// What every op answers.
pub trait OpSpec {
    /// The output for these inputs, or why they do not fit (a shape mismatch, a wrong number of inputs).
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String>;
    /// FLOPs, bytes, parameters and launches for these inputs and output (already checked by `infer`).
    fn cost(&self, inputs: &[TensorInfo], output: &TensorInfo) -> OpCost;
}

/// Every operator. Parameters that follow from the input (input channels, feature width) are inferred, so an
/// op is fully described by what a user writes in YAML.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Input(Input),
    Weight(Weight),
    HostWork(HostWork),
    Conv(Conv),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    InstanceNorm(InstanceNorm),
    Unary(Unary),
    Pool(Pool),
    AdaptiveAvgPool(AdaptiveAvgPool),
    Linear(Linear),
    MatMul(MatMul),
    Softmax(Softmax),
    Embedding(Embedding),
    GruCell(GruCell),
    LstmCell(LstmCell),
    Binary(Binary),
    OuterProduct(OuterProduct),
    Concat(Concat),
    Reshape(Reshape),
    Permute(Permute),
    Slice(Slice),
    Pad(Pad),
    Upsample(Upsample),
    Reduce(Reduce),
}

macro_rules! dispatch {
    ($self:ident, $op:ident => $e:expr) => {
        match $self {
            Op::Input($op) => $e,
            Op::Weight($op) => $e,
            Op::HostWork($op) => $e,
            Op::Conv($op) => $e,
            Op::BatchNorm($op) => $e,
            Op::LayerNorm($op) => $e,
            Op::InstanceNorm($op) => $e,
            Op::Unary($op) => $e,
            Op::Pool($op) => $e,
            Op::AdaptiveAvgPool($op) => $e,
            Op::Linear($op) => $e,
            Op::MatMul($op) => $e,
            Op::Softmax($op) => $e,
            Op::Embedding($op) => $e,
            Op::GruCell($op) => $e,
            Op::LstmCell($op) => $e,
            Op::Binary($op) => $e,
            Op::OuterProduct($op) => $e,
            Op::Concat($op) => $e,
            Op::Reshape($op) => $e,
            Op::Permute($op) => $e,
            Op::Slice($op) => $e,
            Op::Pad($op) => $e,
            Op::Upsample($op) => $e,
            Op::Reduce($op) => $e,
        }
    };
}

impl OpSpec for Op {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        dispatch!(self, op => op.infer(inputs))
    }
    fn cost(&self, inputs: &[TensorInfo], output: &TensorInfo) -> OpCost {
        dispatch!(self, op => op.cost(inputs, output))
    }
}

/// [`Op::variant`] of a grouped convolution.
pub const GROUPED: &str = "grouped";
/// [`Op::variant`] of an identity `scale`.
pub const COPY: &str = "copy";

impl Op {
    /// What decides the kernels a framework launches for the op: its kind, marked `+bias` for a convolution
    /// with a bias (cuDNN adds the bias in a kernel of its own; mmbench's kernel adds it in place), then
    /// `@grouped` for a grouped one (see [`Op::variant`]).
    pub fn launch_key(&self) -> String {
        self.launch_key_as(self.variant())
    }

    /// [`Op::launch_key`] of the op run as `variant` (`graph::layout::variant_of` adds the input's layout).
    pub fn launch_key_as(&self, variant: Option<&str>) -> String {
        let key = match self {
            Op::Conv(c) if c.bias => format!("{}+bias", self.kind()),
            _ => self.kind(),
        };
        match variant {
            Some(v) => format!("{key}@{v}"),
            None => key,
        }
    }

    /// A variant of the op's kind that a GPU library runs in other kernels, at its own speed: `grouped`, a
    /// convolution of more than one group that is not depthwise (one group per output channel), which cuDNN
    /// may run as a kernel per group (ResNeXt's and RegNet's convolutions).
    /// An identity `scale` (`x * 1 + 0`, a model's `x.clone()`) is `copy`: PyTorch copies a contiguous CUDA
    /// tensor with a device-to-device memcpy, not a kernel.
    pub fn variant(&self) -> Option<&'static str> {
        match self {
            Op::Conv(c) if c.groups > 1 && c.groups < c.out => Some(GROUPED),
            Op::Unary(u) if matches!(u.func, super::ops::UnaryFn::Scale { factor, offset } if factor == 1.0 && offset == 0.0) => Some(COPY),
            _ => None,
        }
    }

    /// Groups of a convolution, 1 for every other op.
    pub fn groups(&self) -> usize {
        match self {
            Op::Conv(c) => c.groups.max(1),
            _ => 1,
        }
    }

    /// The op's type name as users write it and as reports group it (`conv2d`, `relu`, `linear`).
    pub fn kind(&self) -> String {
        match self {
            Op::Input(_) => "input".into(),
            Op::Weight(_) => "weight".into(),
            Op::HostWork(_) => "host_work".into(),
            Op::Conv(c) => {
                if c.transposed {
                    format!("conv_transpose{}d", c.dims)
                } else {
                    format!("conv{}d", c.dims)
                }
            }
            Op::BatchNorm(_) => "batch_norm".into(),
            Op::LayerNorm(_) => "layer_norm".into(),
            Op::InstanceNorm(_) => "instance_norm".into(),
            Op::Unary(u) => u.func.name().into(),
            Op::Pool(p) => format!("{}_pool{}d", p.kind.name(), p.dims),
            Op::AdaptiveAvgPool(p) => format!("adaptive_avg_pool{}d", p.output.len()),
            Op::Linear(_) => "linear".into(),
            Op::MatMul(_) => "matmul".into(),
            Op::Softmax(_) => "softmax".into(),
            Op::Embedding(_) => "embedding".into(),
            Op::GruCell(_) => "gru_cell".into(),
            Op::LstmCell(_) => "lstm_cell".into(),
            Op::Binary(b) => b.kind.name().into(),
            Op::OuterProduct(_) => "outer_product".into(),
            Op::Concat(_) => "concat".into(),
            Op::Reshape(_) => "reshape".into(),
            Op::Permute(_) => "permute".into(),
            Op::Slice(_) => "slice".into(),
            Op::Pad(_) => "pad".into(),
            Op::Upsample(_) => "upsample".into(),
            Op::Reduce(r) => format!("reduce_{}", r.kind.name()),
        }
    }
}

/// A parse failure inside an op's parameters: (path relative to the parameters, message).
pub type ParamError = (String, String);

fn decode<T: serde::de::DeserializeOwned>(v: &serde_yaml::Value) -> Result<T, ParamError> {
    super::blocks::decode_params(v)
}

/// The op names users can write in YAML (blocks are listed by the block library).
pub const OP_NAMES: &[&str] = &[
    "input", "weight", "host_work", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "batch_norm", "layer_norm", "instance_norm", "relu", "leaky_relu", "gelu", "gelu_tanh",
    "sigmoid", "tanh", "silu", "exp", "log", "abs", "pow", "scale", "clamp", "keep_range", "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "linear", "matmul", "softmax", "embedding", "gru_cell", "lstm_cell", "add", "sub", "mul", "div", "maximum",
    "minimum", "outer_product", "concat", "reshape", "permute", "slice", "pad", "upsample", "mean", "sum", "max",
];

impl Op {
    /// Parses an op from its YAML name and parameters; `None` if `name` is not an op. `input` is handled by
    /// the workload loader (it needs the batch size).
    pub fn from_yaml(name: &str, params: &serde_yaml::Value) -> Option<Result<Op, ParamError>> {
        if let Some(f) = UnaryFn::from_yaml(name, params) {
            return Some(f.map(|func| Op::Unary(Unary { func })).map_err(|m| (String::new(), m)));
        }
        if let Some(kind) = BinaryKind::from_name(name) {
            return Some(match params {
                serde_yaml::Value::Null => Ok(Op::Binary(Binary { kind })),
                serde_yaml::Value::Mapping(m) if m.is_empty() => Ok(Op::Binary(Binary { kind })),
                _ => Err((String::new(), format!("`{name}` takes no parameters"))),
            });
        }
        let dims_of = |prefix: &str| -> Option<usize> {
            name.strip_prefix(prefix).and_then(|r| r.strip_suffix('d')).and_then(|d| d.parse().ok()).filter(|d| (1..=3).contains(d))
        };
        let r = if let Some(d) = dims_of("conv_transpose") {
            decode::<Conv>(params).map(|c| Op::Conv(Conv { dims: d, transposed: true, ..c }))
        } else if let Some(d) = dims_of("conv") {
            decode::<Conv>(params).map(|c| Op::Conv(Conv { dims: d, transposed: false, ..c }))
        } else if let Some(d) = dims_of("max_pool") {
            decode::<Pool>(params).map(|p| Op::Pool(Pool { kind: PoolKind::Max, dims: d, ..p }))
        } else if let Some(d) = dims_of("avg_pool") {
            decode::<Pool>(params).map(|p| Op::Pool(Pool { kind: PoolKind::Avg, dims: d, ..p }))
        } else if let Some(d) = dims_of("adaptive_avg_pool") {
            decode::<AdaptiveAvgPool>(params).and_then(|p| {
                let output = super::ops::per_dim_pub(&p.output, d, "output").map_err(|m| ("output".to_string(), m))?;
                Ok(Op::AdaptiveAvgPool(AdaptiveAvgPool { output }))
            })
        } else {
            match name {
                "weight" => decode::<Weight>(params).map(Op::Weight),
                "host_work" => decode::<HostWork>(params).map(Op::HostWork),
                "batch_norm" => decode::<BatchNorm>(params).map(Op::BatchNorm),
                "layer_norm" => decode::<LayerNorm>(params).map(Op::LayerNorm),
                "instance_norm" => decode::<InstanceNorm>(params).map(Op::InstanceNorm),
                "linear" => decode::<Linear>(params).map(Op::Linear),
                "matmul" => decode::<MatMul>(params).map(Op::MatMul),
                "softmax" => decode::<Softmax>(params).map(Op::Softmax),
                "embedding" => decode::<Embedding>(params).map(Op::Embedding),
                "gru_cell" => decode::<GruCell>(params).map(Op::GruCell),
                "lstm_cell" => decode::<LstmCell>(params).map(Op::LstmCell),
                "outer_product" => decode::<OuterProduct>(params).map(Op::OuterProduct),
                "concat" => decode::<Concat>(params).map(Op::Concat),
                "reshape" => decode::<Reshape>(params).map(Op::Reshape),
                "permute" => decode::<Permute>(params).map(Op::Permute),
                "slice" => decode::<Slice>(params).map(Op::Slice),
                "pad" => decode::<Pad>(params).map(Op::Pad),
                "upsample" => decode::<Upsample>(params).map(Op::Upsample),
                "mean" | "sum" | "max" => {
                    let kind = match name {
                        "mean" => ReduceKind::Mean,
                        "sum" => ReduceKind::Sum,
                        _ => ReduceKind::Max,
                    };
                    decode::<Reduce>(params).map(|r| Op::Reduce(Reduce { kind, ..r }))
                }
                _ => return None,
            }
        };
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml::Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn every_listed_op_name_parses_or_needs_parameters() {
        for name in OP_NAMES {
            if *name == "input" {
                continue;
            }
            assert!(Op::from_yaml(name, &serde_yaml::Value::Null).is_some(), "{name} is not recognised");
        }
        assert!(Op::from_yaml("lenet", &serde_yaml::Value::Null).is_none());
    }

    #[test]
    fn names_set_dims_and_kinds() {
        let op = Op::from_yaml("conv3d", &yaml("{out: 8, kernel: 3}")).unwrap().unwrap();
        assert_eq!(op.kind(), "conv3d");
        let op = Op::from_yaml("conv_transpose2d", &yaml("{out: 8, kernel: 2, stride: 2}")).unwrap().unwrap();
        assert_eq!(op.kind(), "conv_transpose2d");
        let op = Op::from_yaml("avg_pool1d", &yaml("{kernel: 2}")).unwrap().unwrap();
        assert_eq!(op.kind(), "avg_pool1d");
        let op = Op::from_yaml("adaptive_avg_pool2d", &yaml("{output: 7}")).unwrap().unwrap();
        assert_eq!(op, Op::AdaptiveAvgPool(AdaptiveAvgPool { output: vec![7, 7] }));
        let op = Op::from_yaml("max", &yaml("{axes: [-1]}")).unwrap().unwrap();
        assert_eq!(op.kind(), "reduce_max");
    }

    #[test]
    fn unknown_and_missing_fields_name_the_field() {
        let (path, msg) = Op::from_yaml("conv2d", &yaml("{out: 8, kernal: 3}")).unwrap().unwrap_err();
        assert!(msg.contains("unknown field `kernal`"), "{path} {msg}");
        let (_, msg) = Op::from_yaml("linear", &yaml("{}")).unwrap().unwrap_err();
        assert!(msg.contains("missing field `out`"), "{msg}");
        let (path, _) = Op::from_yaml("conv2d", &yaml("{out: 8, kernel: [3, x]}")).unwrap().unwrap_err();
        assert!(path.starts_with("kernel"), "{path}");
    }
}
