// Normalizations at inference, as the reference (`reference/norm.rs`) computes them.
//
// `norm_thread`, `norm_group`: LayerNorm and InstanceNorm. Both normalize contiguous rows (`rows` of `len`
// elements: the last `dims` axes of a layer norm, the spatial axes of one sample and channel of an instance
// norm) by their own mean and biased variance. `norm_thread` takes one invocation per row (short rows);
// `norm_group` a workgroup of 256 per row, each invocation folding a strided share and the shares combined
// in workgroup memory, so long rows work too (a 128³ volume is 8192 elements per invocation).
//
// The statistics are computed in f32 with care, because inputs may sit far from zero (x + 3 with a spread
// of 1 loses digits in a naive `E[x²] - E[x]²`):
// 1. m0 = shift + Σ(x - shift) / n, shifted by the row's first element so the sum stays near zero;
// 2. with d = x - m0: mean = m0 + Σd / n and var = Σd² / n - (Σd / n)², the corrected two-pass formula,
//    which also removes what rounding left in m0.
// Then y = ((x - m0) - Σd / n) · inverseSqrt(var + eps) · scale + shift, the affine part per element of a row
// (AFFINE 1, layer norm), per channel `row % channels` (2, instance norm) or none (0).
//
// `batch_norm`: one invocation per element, from the running statistics of its channel
// `(i / len) % channels`. Its running mean and variance come after the output (bindings 5, 6), so that the
// row entry points bind 1 to 4 without gaps.

struct Params {
    rows: u32, len: u32, channels: u32, affine: u32,
    x_off: u32, y_off: u32, w_off: u32, b_off: u32,
    m_off: u32, v_off: u32, eps: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read> running_var: array<f32>;

// A row's mean, m0 + dm, and 1 / sqrt(var + eps), from its two passes: `shift` and the sum of x - shift
// (pass 1), then, from d = x - m0, the sums of d and d² (pass 2).
struct Stats {
    m0: f32,
    dm: f32,
    inv: f32,
}

fn first_mean(shift: f32, sum: f32) -> f32 {
    return shift + sum / f32(p.len);
}

fn stats(m0: f32, d1: f32, d2: f32) -> Stats {
    let n = f32(p.len);
    let dm = d1 / n;
    let variance = max(d2 / n - dm * dm, 0.0);
    return Stats(m0, dm, inverseSqrt(variance + p.eps));
}

// Element j of row r, normalized and (per AFFINE) scaled and shifted.
fn write(r: u32, j: u32, s: Stats) {
    let at = r * p.len + j;
    // x - m0 is exact (they are close); adding m0 + dm first would round the mean again.
    var v = ((x[p.x_off + at] - s.m0) - s.dm) * s.inv;
    if (p.affine != 0u) {
        let c = select(j, r % p.channels, p.affine == 2u);
        v = v * weight[p.w_off + c] + bias[p.b_off + c];
    }
    y[p.y_off + at] = v;
}

@compute @workgroup_size(64)
fn norm_thread(ids: Ids) {
    let r = item(ids, 64u);
    if (r >= p.rows) {
        return;
    }
    let base = p.x_off + r * p.len;
    let shift = x[base];
    var sum = 0.0;
    for (var j = 0u; j < p.len; j++) {
        sum += x[base + j] - shift;
    }
    let m0 = first_mean(shift, sum);
    var d1 = 0.0;
    var d2 = 0.0;
    for (var j = 0u; j < p.len; j++) {
        let d = x[base + j] - m0;
        d1 += d;
        d2 += d * d;
    }
    let s = stats(m0, d1, d2);
    for (var j = 0u; j < p.len; j++) {
        write(r, j, s);
    }
}

// Workgroup memory for `reduce256`.
var<workgroup> partial: array<vec2<f32>, 256>;

// The sum of `v` over the 256 invocations of a workgroup, returned to every invocation. Call it from uniform
// control flow: it waits at barriers.
fn reduce256(v: vec2<f32>, lid: u32) -> vec2<f32> {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Nobody may overwrite `partial` for the next reduction before everyone has read this one.
    workgroupBarrier();
    return total;
}

// x[base + j] - shift, or 0 past the end of the row.
fn centred(base: u32, j: u32, shift: f32) -> f32 {
    if (j < p.len) {
        return x[base + j] - shift;
    }
    return 0.0;
}

// (d, d²) of `centred`.
fn moments(base: u32, j: u32, mean: f32) -> vec2<f32> {
    let d = centred(base, j, mean);
    return vec2<f32>(d, d * d);
}

// Each invocation takes elements `lid + 256 i`, four per loop iteration: lavapipe ends any invocation after
// 65535 loop iterations in all (a guard against hangs), so three passes of len / 1024 iterations allow rows
// of up to 22 million elements there; other adapters have no such limit.
@compute @workgroup_size(256)
fn norm_group(ids: Ids) {
    // One row per workgroup: the early return is the same for the whole workgroup, so the barriers in
    // `reduce256` stay in uniform control flow.
    let r = flat_group(ids.wid, ids.nwg);
    if (r >= p.rows) {
        return;
    }
    let base = p.x_off + r * p.len;
    let shift = x[base];
    var sum = 0.0;
    for (var j = ids.lid; j < p.len; j += 1024u) {
        sum += (centred(base, j, shift) + centred(base, j + 256u, shift)) + (centred(base, j + 512u, shift) + centred(base, j + 768u, shift));
    }
    let m0 = first_mean(shift, reduce256(vec2<f32>(sum, 0.0), ids.lid).x);
    var d = vec2<f32>(0.0);
    for (var j = ids.lid; j < p.len; j += 1024u) {
        d += (moments(base, j, m0) + moments(base, j + 256u, m0)) + (moments(base, j + 512u, m0) + moments(base, j + 768u, m0));
    }
    let total = reduce256(d, ids.lid);
    let s = stats(m0, total.x, total.y);
    for (var j = ids.lid; j < p.len; j += 1024u) {
        write(r, j, s);
        if (j + 256u < p.len) {
            write(r, j + 256u, s);
        }
        if (j + 512u < p.len) {
            write(r, j + 512u, s);
        }
        if (j + 768u < p.len) {
            write(r, j + 768u, s);
        }
    }
}

@compute @workgroup_size(256)
fn batch_norm(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.rows) {
        return;
    }
    let c = (i / p.len) % p.channels;
    let inv = inverseSqrt(running_var[p.v_off + c] + p.eps);
    y[p.y_off + i] = (x[p.x_off + i] - running_mean[p.m_off + c]) * inv * weight[p.w_off + c] + bias[p.b_off + c];
}
