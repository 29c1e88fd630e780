//! The block library: named building blocks (a LeNet, a GRU over T steps, an MLP) that expand into ops
//! through the [`GraphBuilder`]. YAML items name either an op or a block; the loader asks the op catalogue
//! first and this registry second.
//!
//! To add a block: write its parameter struct (serde, `deny_unknown_fields`) and a [`Block`] impl in a file of
//! its own, and list it in [`REGISTRY`].

mod basic;
mod fusion;
mod bert;
mod cnn;
mod lenet;
mod maxout;
mod mlp;
mod r3d;
mod mmformer;
mod mult;
mod recurrent;
mod regnet;
mod resnet;
mod robotics;
mod squeeze_excite;
#[cfg(test)]
mod testutil;
mod transformer;
mod transfuser;
mod vgg;
mod vqa;

pub use basic::*;
pub use fusion::{AttentionFusion, ConcatLinear, Film, LowRankTensorFusion, MultiplicativeInteractions, RnnFusion, TensorFusion, TransformerFusion};
pub use bert::{Albert, Bert, TextEncoderParams, TextOutput};
pub use lenet::LeNet;
pub use maxout::{maxout, MaxOut, MaxOutMlp};
pub use mlp::Mlp;
pub use mult::Mult;
pub use r3d::R3d18;
pub use mmformer::{encoder as mmformer_encoder, encoder_level as mmformer_level, pn_conv3d};
pub use recurrent::{Gru, Lstm, Recurrent, RecurrentOutput};
pub use regnet::{RegNetOutput, RegNetY032, RegNetYStage, RegNetYStem, REGNETY_032_DEPTHS, REGNETY_032_WIDTHS};
pub use resnet::{ResNet, ResNetOutput};
pub use robotics::{CausalConv1d, ResConv2d, ResLinear};
pub use squeeze_excite::{squeeze_excite, SqueezeExcite};
pub use transformer::{attention, transformer_layer, Attention, NormPlacement, QkvLayout, TransformerLayer};
pub use transfuser::{Anchors, CenterNetTargets, Gpt, GptSide, GptSplit, LossKind, LossReadback, MmdetLoss, WaypointGru};
pub use vgg::{Vgg, VggOutput};
pub use vqa::GlimpseAttention;

use super::builder::{BuildResult, GraphBuilder};
use petgraph::graph::NodeIndex;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// A block expands into ops. `inputs` are the producers the YAML item names (usually one).
pub trait Block: std::fmt::Debug {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex>;
}

/// A parse failure: the path inside the block's parameters (may be empty) and the message.
pub type ParseError = (String, String);

type Parser = fn(&Value) -> Result<Box<dyn Block>, ParseError>;

/// Decodes block parameters (`null` means "all defaults").
pub fn decode_params<T: DeserializeOwned>(v: &Value) -> Result<T, ParseError> {
    let v = if v.is_null() { Value::Mapping(Default::default()) } else { v.clone() };
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let p = e.path().to_string();
        (if p == "." { String::new() } else { p }, crate::yaml::explain_untagged(strip_yaml_location(&e.inner().to_string())))
    })
}

fn strip_yaml_location(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

fn parse<T: DeserializeOwned + Block + 'static>(v: &Value) -> Result<Box<dyn Block>, ParseError> {
    decode_params::<T>(v).map(|b| Box::new(b) as Box<dyn Block>)
}

/// Every block, by the name used in YAML.
pub static REGISTRY: &[(&str, Parser)] = &[
    ("flatten", parse::<Flatten>),
    ("squeeze", parse::<Squeeze>),
    ("unsqueeze", parse::<Unsqueeze>),
    ("transpose", parse::<Transpose>),
    ("select", parse::<Select>),
    ("stack", parse::<Stack>),
    ("global_avg_pool", parse::<GlobalAvgPool>),
    ("dropout", parse::<Dropout>),
    ("lenet", parse::<LeNet>),
    ("mlp", parse::<Mlp>),
    ("gru", parse::<Gru>),
    ("lstm", parse::<Lstm>),
    ("attention", parse::<Attention>),
    ("transformer_layer", parse::<TransformerLayer>),
    ("concat_linear", parse::<ConcatLinear>),
    ("tensor_fusion", parse::<TensorFusion>),
    ("low_rank_tensor_fusion", parse::<LowRankTensorFusion>),
    ("multiplicative_interactions", parse::<MultiplicativeInteractions>),
    ("attention_fusion", parse::<AttentionFusion>),
    ("film", parse::<Film>),
    ("rnn_fusion", parse::<RnnFusion>),
    ("transformer_fusion", parse::<TransformerFusion>),
    ("vgg", parse::<Vgg>),
    ("resnet", parse::<ResNet>),
    ("r3d_18", parse::<R3d18>),
    ("squeeze_excite", parse::<SqueezeExcite>),
    ("regnety_stem", parse::<RegNetYStem>),
    ("regnety_stage", parse::<RegNetYStage>),
    ("regnety_032", parse::<RegNetY032>),
    ("bert", parse::<Bert>),
    ("albert", parse::<Albert>),
    ("maxout", parse::<MaxOut>),
    ("maxout_mlp", parse::<MaxOutMlp>),
    ("res_linear", parse::<ResLinear>),
    ("res_conv2d", parse::<ResConv2d>),
    ("causal_conv1d", parse::<CausalConv1d>),
    ("mult", parse::<Mult>),
    ("pn_conv3d", parse::<mmformer::PnConv3d>),
    ("mmformer_level", parse::<mmformer::MmformerLevel>),
    ("mmformer_tokens", parse::<mmformer::MmformerTokens>),
    ("mmformer_transformer", parse::<mmformer::MmformerTransformer>),
    ("mmformer_untokens", parse::<mmformer::MmformerUntokens>),
    ("mmformer_mask", parse::<mmformer::MmformerMask>),
    ("mmformer_inter_tokens", parse::<mmformer::MmformerInterTokens>),
    ("mmformer_decoder", parse::<mmformer::MmformerDecoder>),
    ("gpt", parse::<Gpt>),
    ("gpt_split", parse::<GptSplit>),
    ("waypoint_gru", parse::<WaypointGru>),
    ("centernet_targets", parse::<CenterNetTargets>),
    ("mmdet_loss", parse::<MmdetLoss>),
    ("loss_readback", parse::<LossReadback>),
    ("glimpse_attention", parse::<GlimpseAttention>),
];

/// Parses a block by name; `None` if no block has this name.
pub fn parse_block(name: &str, params: &Value) -> Option<Result<Box<dyn Block>, ParseError>> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, p)| p(params))
}

/// Names of all blocks.
pub fn block_names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(n, _)| *n)
}

/// The single input of a block that takes one.
pub(crate) fn one_input(b: &GraphBuilder, inputs: &[NodeIndex], block: &str) -> BuildResult<NodeIndex> {
    match inputs {
        [x] => Ok(*x),
        _ => Err(b.error(block, format!("`{block}` takes 1 input, got {}", inputs.len()))),
    }
}
