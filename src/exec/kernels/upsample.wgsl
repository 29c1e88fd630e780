// Upsampling of [B, C, *spatial] as PyTorch's `F.interpolate` (see `reference/upsample.rs`), one invocation
// per output element. Every input arrives with three spatial axes (d, h, w): fewer are led by axes of size 1.
//
// Each axis maps output coordinate o to the input through its `step`, computed on the host: (in-1)/(out-1)
// with aligned corners, else 1/scale or in/out; 1 for a linear axis of unchanged size, which copies.
// `nearest`: min(floor(o·step), in - 1).
// `linear`: source src = step·o (aligned corners) or max(step·(o + 0.5) - 0.5, 0); it blends i0 = floor(src)
// and the next input (i0 itself at the end) with weights 1 - λ and λ = src - i0. Axes of unchanged size
// are not blended at all (a uniform branch), so a bilinear upsample reads 4 inputs, not 8.

struct Params {
    n: u32, x_off: u32, y_off: u32, align_corners: u32,
    // Input sizes (d, h, w) and the elements of one input plane (d·h·w).
    in_size: vec4<u32>,
    // Output sizes (d, h, w); the fourth is unused.
    out_size: vec4<u32>,
    step: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Output element i as (input plane, d, h, w).
fn coords(i: u32) -> vec4<u32> {
    let w = i % p.out_size.z;
    let r = i / p.out_size.z;
    let h = r % p.out_size.y;
    let r2 = r / p.out_size.y;
    return vec4<u32>(r2 / p.out_size.x, r2 % p.out_size.x, h, w);
}

@compute @workgroup_size(256)
fn nearest(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let c = coords(i);
    let src = min(vec3<u32>(floor(vec3<f32>(c.yzw) * p.step.xyz)), p.in_size.xyz - 1u);
    y[p.y_off + i] = x[p.x_off + c.x * p.in_size.w + (src.x * p.in_size.y + src.y) * p.in_size.z + src.z];
}

// The two inputs output coordinate o of an axis blends, and the weight of the second.
struct Tap {
    i0: u32,
    i1: u32,
    lambda: f32,
}

fn tap(o: u32, n: u32, step: f32) -> Tap {
    let o_f = f32(o);
    let src = select(max(step * (o_f + 0.5) - 0.5, 0.0), step * o_f, p.align_corners != 0u);
    let i0 = min(u32(floor(src)), n - 1u);
    let lambda = clamp(src - f32(i0), 0.0, 1.0);
    return Tap(i0, select(i0, i0 + 1u, i0 + 1u < n), lambda);
}

// Along w, from the row starting at `at`.
fn along_w(at: u32, tw: Tap) -> f32 {
    let v0 = x[at + tw.i0];
    if (p.in_size.z == p.out_size.z) {
        return v0;
    }
    return (1.0 - tw.lambda) * v0 + tw.lambda * x[at + tw.i1];
}

// Along h and w, in the (h, w) plane starting at `at`.
fn along_hw(at: u32, th: Tap, tw: Tap) -> f32 {
    let v0 = along_w(at + th.i0 * p.in_size.z, tw);
    if (p.in_size.y == p.out_size.y) {
        return v0;
    }
    return (1.0 - th.lambda) * v0 + th.lambda * along_w(at + th.i1 * p.in_size.z, tw);
}

@compute @workgroup_size(256)
fn linear(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let c = coords(i);
    let td = tap(c.y, p.in_size.x, p.step.x);
    let th = tap(c.z, p.in_size.y, p.step.y);
    let tw = tap(c.w, p.in_size.z, p.step.z);
    let base = p.x_off + c.x * p.in_size.w;
    let hw = p.in_size.y * p.in_size.z;
    var v = along_hw(base + td.i0 * hw, th, tw);
    if (p.in_size.x != p.out_size.x) {
        v = (1.0 - td.lambda) * v + td.lambda * along_hw(base + td.i1 * hw, th, tw);
    }
    y[p.y_off + i] = v;
}
