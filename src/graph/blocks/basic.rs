//! Small shape helpers that users write as if they were ops: flatten, squeeze, unsqueeze, transpose, select,
//! stack, global average pooling, dropout (the identity at inference).

use super::{one_input, Block};
use crate::graph::builder::{BuildResult, GraphBuilder};
use crate::graph::tensor::norm_axis;
use petgraph::graph::NodeIndex;
use serde::Deserialize;

/// `flatten: {start: 1}`: merges axes `start..` into one (a free view).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {
    #[serde(default = "one")]
    pub start: usize,
}
fn one() -> usize {
    1
}
impl Block for Flatten {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "flatten")?;
        b.flatten("flatten", x, self.start)
    }
}

/// `squeeze: {axis: -1}`: drops a size-1 axis (all of them without `axis`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Squeeze {
    #[serde(default)]
    pub axis: Option<i64>,
}
impl Block for Squeeze {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "squeeze")?;
        b.squeeze("squeeze", x, self.axis)
    }
}

/// `unsqueeze: {axis: 1}`: inserts a size-1 axis.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsqueeze {
    pub axis: i64,
}
impl Block for Unsqueeze {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "unsqueeze")?;
        b.unsqueeze("unsqueeze", x, self.axis)
    }
}

/// `transpose: {axes: [0, 1]}`: swaps two axes (a permute).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transpose {
    pub axes: [i64; 2],
}
impl Block for Transpose {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "transpose")?;
        let rank = b.shape(x).len();
        let a0 = norm_axis(self.axes[0], rank).map_err(|m| b.error("transpose", m))?;
        let a1 = norm_axis(self.axes[1], rank).map_err(|m| b.error("transpose", m))?;
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(a0, a1);
        b.permute("transpose", x, &perm)
    }
}

/// `select: {axis: 1, index: -1}`: takes one position of an axis and drops the axis (`x[:, -1]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    pub axis: i64,
    pub index: i64,
}
impl Block for Select {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "select")?;
        let end = if self.index == -1 { None } else { Some(self.index + 1) };
        b.scope("select", |b| {
            let s = b.slice("slice", x, self.axis, self.index, end)?;
            b.squeeze("squeeze", s, Some(self.axis))
        })
    }
}

/// `stack: {axis: 1}`: stacks its equal-shaped inputs along a new axis.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    #[serde(default)]
    pub axis: i64,
}
impl Block for Stack {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        if inputs.is_empty() {
            return Err(b.error("stack", "`stack` needs at least one input"));
        }
        b.stack("stack", inputs, self.axis)
    }
}

/// `global_avg_pool`: mean over all spatial axes, `[B, C, *spatial] -> [B, C]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAvgPool {}
impl Block for GlobalAvgPool {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        let x = one_input(b, inputs, "global_avg_pool")?;
        b.global_avg_pool("global_avg_pool", x)
    }
}

/// `dropout`: the identity at inference; accepted so graphs can mirror their source code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    #[serde(default)]
    pub p: f64,
}
impl Block for Dropout {
    fn build(&self, b: &mut GraphBuilder, inputs: &[NodeIndex]) -> BuildResult<NodeIndex> {
        one_input(b, inputs, "dropout")
    }
}
