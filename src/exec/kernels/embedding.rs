//! Embedding lookup (`embedding.wgsl`): ids gather rows of the `[vocab, dim]` table (the op's parameter,
//! laid out in `params.rs`). One dispatch per op, one invocation per output element.

use super::{grid, u32_of, Dispatch, Kernel, OpArgs};
use crate::error::Result;
use crate::graph::ops::Embedding;
use bytemuck::{Pod, Zeroable};

pub const KERNEL: Kernel = Kernel { name: "embedding", sources: &[include_str!("embedding.wgsl")] };

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    dim: u32,
    vocab: u32,
    tokens_off: u32,
    table_off: u32,
    y_off: u32,
    _pad: [u32; 2],
}

pub fn embedding(a: &OpArgs, e: &Embedding) -> Result<Vec<Dispatch>> {
    let (ids, table, y) = (&a.inputs[0], &a.params[0], a.output);
    let p = Params {
        n: u32_of(y.numel(), "the output count")?,
        dim: u32_of(e.dim, "the embedding width")?,
        vocab: u32_of(e.vocab, "the vocabulary")?,
        tokens_off: ids.off(),
        table_off: table.off(),
        y_off: y.off(),
        _pad: [0; 2],
    };
    let groups = grid(y.numel().div_ceil(256), a.caps.max_groups)?;
    Ok(vec![Dispatch::new(&KERNEL, "main", &p, vec![ids.buffer, table.buffer, y.buffer], groups)])
}
