// Embedding lookup: output element i of [..., dim] is column i % dim of the table row named by id i / dim.
// Ids past the vocabulary (the data keeps them below it) read the last row rather than out of bounds.

struct Params {
    n: u32, dim: u32, vocab: u32, tokens_off: u32,
    table_off: u32, y_off: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let row = i / p.dim;
    let id = min(tokens[p.tokens_off + row], p.vocab - 1u);
    y[p.y_off + i] = table[p.table_off + id * p.dim + (i - row * p.dim)];
}
