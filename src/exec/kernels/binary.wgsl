// Binary elementwise ops with NumPy broadcasting, one output element per invocation. The output index is
// split into coordinates of the (collapsed) output shape; each operand has its own element strides, 0
// along axes it repeats. KIND follows `BinaryKind` (add, sub, mul, div, maximum, minimum).

struct Params {
    n: u32, rank: u32, a_off: u32, b_off: u32,
    y_off: u32, _p0: u32, _p1: u32, _p2: u32,
    shape: Dims8,
    a_stride: Dims8,
    b_stride: Dims8,
}

override KIND: u32 = 0u;
// Both operands have the output's shape: no index arithmetic.
override SAME_SHAPE: bool = false;
// An operand holds integer ids (u32 words), used by their value (a loss multiplying by its targets).
override A_IDS: bool = false;
override B_IDS: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn combine(u: f32, v: f32) -> f32 {
    if (KIND == 0u) { return u + v; }
    if (KIND == 1u) { return u - v; }
    if (KIND == 2u) { return u * v; }
    if (KIND == 3u) { return u / v; }
    if (KIND == 4u) { return max(u, v); }
    return min(u, v);
}

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    var at = vec2<u32>(i);
    if (!SAME_SHAPE) {
        at = strided2(i, p.rank, p.shape, p.a_stride, p.b_stride);
    }
    var u = a[p.a_off + at.x];
    var v = b[p.b_off + at.y];
    if (A_IDS) { u = f32(bitcast<u32>(u)); }
    if (B_IDS) { v = f32(bitcast<u32>(v)); }
    y[p.y_off + i] = combine(u, v);
}
