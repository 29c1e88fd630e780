//! `mlp: {hidden: [100], out: 10}`: Linear → activation → ... → Linear (no activation after the last).

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::ops::UnaryFn;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mlp {
    /// Hidden widths (one number or a list).
    #[serde(deserialize_with = "crate::graph::ops::one_or_many_pub")]
    pub hidden: Vec<usize>,
    pub out: usize,
    /// `relu` (default), `leaky_relu` (slope 0.01), `gelu`, `tanh`, `sigmoid`.
    #[serde(default = "relu")]
    pub activation: String,
    /// Also apply the activation after the last layer.
    #[serde(default)]
    pub final_activation: bool,
}

fn relu() -> String {
    "relu".into()
}

impl Block for Mlp {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let mut x = one_input(b, inputs, "mlp")?;
        let act = match UnaryFn::from_yaml(&self.activation, &serde_yaml::Value::Null) {
            Some(Ok(f)) => f,
            _ => return Err(b.error("mlp", format!("unknown activation `{}`", self.activation))),
        };
        let widths: Vec<usize> = self.hidden.iter().copied().chain([self.out]).collect();
        let last = widths.len() - 1;
        for (i, &w) in widths.iter().enumerate() {
            x = b.linear(&format!("fc{i}"), x, w, true)?;
            if i < last || self.final_activation {
                x = b.unary(&format!("act{i}"), act, x)?;
            }
        }
        Ok(x)
    }
}
