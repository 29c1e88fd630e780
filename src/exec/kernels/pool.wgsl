// Pooling over the spatial axes of [B, C, *spatial], one invocation per output element. Every pool arrives
// with three spatial axes (d, h, w): 1-D and 2-D pools have leading axes of size 1, with a window of 1.
//
// `pool`: max (KIND 0) or average (KIND 1) windows with stride and zero padding, in PyTorch's semantics. A
// window starts at o·stride - pad; it is clipped to the padded axis (only a `ceil_mode` window reaches past
// it), and then to the input. Max ignores the padding; average divides by the positions of the clipped
// padded window, zeros counted (`count_include_pad`).
// `adaptive_avg`: the mean over PyTorch's adaptive window [floor(o·in/out), ceil((o+1)·in/out)) per axis.

struct Params {
    n: u32, x_off: u32, y_off: u32, _p0: u32,
    // Input sizes (d, h, w) and the elements of one input plane (d·h·w).
    in_size: vec4<u32>,
    // Output sizes (d, h, w); the fourth is unused.
    out_size: vec4<u32>,
    kernel: vec4<u32>,
    stride: vec4<u32>,
    pad: vec4<u32>,
}

override KIND: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// The lowest finite f32: inputs are finite, so max(LOWEST, v) = v.
const LOWEST: f32 = -3.40282347e+38;

// Output element i as (input plane, d, h, w).
fn coords(i: u32) -> vec4<u32> {
    let w = i % p.out_size.z;
    let r = i / p.out_size.z;
    let h = r % p.out_size.y;
    let r2 = r / p.out_size.y;
    return vec4<u32>(r2 / p.out_size.x, r2 % p.out_size.x, h, w);
}

// Max (or the sum, for averages) of the input box [lo, hi) of plane `plane`.
fn fold_box(plane: u32, lo: vec3<u32>, hi: vec3<u32>) -> f32 {
    let base = p.x_off + plane * p.in_size.w;
    var acc = select(0.0, LOWEST, KIND == 0u);
    for (var d = lo.x; d < hi.x; d++) {
        for (var h = lo.y; h < hi.y; h++) {
            let row = base + (d * p.in_size.y + h) * p.in_size.z;
            for (var w = lo.z; w < hi.z; w++) {
                let v = x[row + w];
                acc = select(acc + v, max(acc, v), KIND == 0u);
            }
        }
    }
    return acc;
}

@compute @workgroup_size(256)
fn pool(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let c = coords(i);
    let start = vec3<i32>(c.yzw * p.stride.xyz) - vec3<i32>(p.pad.xyz);
    let end = min(start + vec3<i32>(p.kernel.xyz), vec3<i32>(p.in_size.xyz + p.pad.xyz));
    let lo = vec3<u32>(max(start, vec3<i32>(0)));
    let hi = vec3<u32>(min(end, vec3<i32>(p.in_size.xyz)));
    var v = fold_box(c.x, lo, hi);
    if (KIND == 1u) {
        let padded = end - start;
        v = v / f32(padded.x * padded.y * padded.z);
    }
    y[p.y_off + i] = v;
}

@compute @workgroup_size(256)
fn adaptive_avg(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let c = coords(i);
    let n = p.in_size.xyz;
    let o = p.out_size.xyz;
    let lo = c.yzw * n / o;
    let hi = ((c.yzw + 1u) * n + o - 1u) / o;
    let cells = hi - lo;
    y[p.y_off + i] = fold_box(c.x, lo, hi) / f32(cells.x * cells.y * cells.z);
}
