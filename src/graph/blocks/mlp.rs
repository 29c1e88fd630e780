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
    /// An activation op: a name (`relu`, the default; `gelu`, `tanh`, `sigmoid`, ...) or a name with its
    /// parameters (`{leaky_relu: {slope: 0.1}}`).
    #[serde(default = "relu")]
    pub activation: serde_yaml::Value,
    /// Also apply the activation after the last layer.
    #[serde(default)]
    pub final_activation: bool,
}

fn relu() -> serde_yaml::Value {
    serde_yaml::Value::String("relu".into())
}

/// Parses an activation written as `name` or `{name: {params}}`.
pub fn activation_fn(v: &serde_yaml::Value) -> Result<UnaryFn, String> {
    let (name, params) = match v {
        serde_yaml::Value::String(s) => (s.as_str(), serde_yaml::Value::Null),
        serde_yaml::Value::Mapping(m) if m.len() == 1 => {
            let (k, p) = m.iter().next().expect("one entry");
            (k.as_str().unwrap_or(""), p.clone())
        }
        _ => return Err("an activation is a name or `{name: {params}}`".into()),
    };
    match UnaryFn::from_yaml(name, &params) {
        Some(r) => r,
        None => Err(format!("unknown activation `{name}`")),
    }
}

impl Block for Mlp {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let mut x = one_input(b, inputs, "mlp")?;
        let act = activation_fn(&self.activation).map_err(|m| b.error("mlp", m))?;
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
