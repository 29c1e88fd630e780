// Softmax along one axis: the input is seen as [outer, len, inner]; row r is (r / inner, ·, r % inner), its
// elements `inner` apart. exp(x - max) / Σ exp(x - max), as the reference.
//
// `softmax_thread`: one invocation per row (short rows). `softmax_group`: a workgroup of 64 per row, with
// the max and the sum reduced in workgroup memory (long rows).

struct Params {
    rows: u32, len: u32, inner: u32, x_off: u32,
    y_off: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const LOWEST: f32 = -3.40282347e+38;

fn row_base(r: u32) -> u32 {
    return (r / p.inner) * p.len * p.inner + r % p.inner;
}

@compute @workgroup_size(64)
fn softmax_thread(ids: Ids) {
    let r = item(ids, 64u);
    if (r >= p.rows) {
        return;
    }
    let base = row_base(r);
    var m = LOWEST;
    for (var j = 0u; j < p.len; j++) {
        m = max(m, x[p.x_off + base + j * p.inner]);
    }
    var s = 0.0;
    for (var j = 0u; j < p.len; j++) {
        s += exp(x[p.x_off + base + j * p.inner] - m);
    }
    for (var j = 0u; j < p.len; j++) {
        y[p.y_off + base + j * p.inner] = exp(x[p.x_off + base + j * p.inner] - m) / s;
    }
}

@compute @workgroup_size(64)
fn softmax_group(ids: Ids) {
    let r = flat_group(ids.wid, ids.nwg);
    if (r >= p.rows) {
        return;
    }
    let base = p.x_off + row_base(r);
    var m = LOWEST;
    for (var j = ids.lid; j < p.len; j += 64u) {
        m = max(m, x[base + j * p.inner]);
    }
    let row_max = reduce64(m, ids.lid, true);
    var s = 0.0;
    for (var j = ids.lid; j < p.len; j += 64u) {
        s += exp(x[base + j * p.inner] - row_max);
    }
    let total = reduce64(s, ids.lid, false);
    let out = p.y_off + row_base(r);
    for (var j = ids.lid; j < p.len; j += 64u) {
        y[out + j * p.inner] = exp(x[base + j * p.inner] - row_max) / total;
    }
}
