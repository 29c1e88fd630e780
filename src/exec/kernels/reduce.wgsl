// Reductions (mean, sum, max) over any set of axes. The input's axes are split into kept axes (one output
// element per combination) and reduced axes (folded into it), each collapsed and described by sizes and
// input element strides. KIND: 0 mean, 1 sum, 2 max.
//
// `reduce_thread`: one invocation per output element (few elements to fold).
// `reduce_group`: one workgroup of 64 per output element, folding a strided share each and then a tree in
// workgroup memory (many elements to fold).

struct Params {
    n_out: u32, keep_rank: u32, red_rank: u32, count: u32,
    x_off: u32, y_off: u32, _p0: u32, _p1: u32,
    keep_shape: Dims8,
    keep_stride: Dims8,
    red_shape: Dims8,
    red_stride: Dims8,
}

override KIND: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Where the elements of output `o` start in x.
fn base_of(o: u32) -> u32 {
    return p.x_off + strided2(o, p.keep_rank, p.keep_shape, p.keep_stride, p.keep_stride).x;
}

// Offset of the r-th folded element from its output's base.
fn offset_of(r: u32) -> u32 {
    return strided2(r, p.red_rank, p.red_shape, p.red_stride, p.red_stride).x;
}

// The lowest finite f32: inputs are finite, so max(LOWEST, v) = v.
const LOWEST: f32 = -3.40282347e+38;

fn start() -> f32 {
    return select(0.0, LOWEST, KIND == 2u);
}

fn fold(acc: f32, v: f32) -> f32 {
    return select(acc + v, max(acc, v), KIND == 2u);
}

fn finish(acc: f32) -> f32 {
    return select(acc, acc / f32(p.count), KIND == 0u);
}

@compute @workgroup_size(64)
fn reduce_thread(ids: Ids) {
    let o = item(ids, 64u);
    if (o >= p.n_out) {
        return;
    }
    let base = base_of(o);
    var acc = start();
    for (var r = 0u; r < p.count; r++) {
        acc = fold(acc, x[base + offset_of(r)]);
    }
    y[p.y_off + o] = finish(acc);
}

@compute @workgroup_size(64)
fn reduce_group(ids: Ids) {
    let o = flat_group(ids.wid, ids.nwg);
    if (o >= p.n_out) {
        return;
    }
    let base = base_of(o);
    var acc = start();
    for (var r = ids.lid; r < p.count; r += 64u) {
        acc = fold(acc, x[base + offset_of(r)]);
    }
    let total = reduce64(acc, ids.lid, KIND == 2u);
    if (ids.lid == 0u) {
        y[p.y_off + o] = finish(total);
    }
}
