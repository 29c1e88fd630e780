// `pad`: one invocation per output element. Axis 0 is batch × channels (never padded), the others the
// spatial axes; each output coordinate maps back to an input coordinate by the mode (zeros: outside reads
// zero; reflect: mirrored about the edge element; replicate: clamped to the edge).

struct Params {
    n: u32, rank: u32, x_off: u32, y_off: u32,
    // 0 zeros, 1 reflect, 2 replicate.
    mode: u32, _p0: u32, _p1: u32, _p2: u32,
    out_shape: Dims8,
    in_shape: Dims8,
    pad: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    var rest = i;
    var off = 0u;
    var stride = 1u;
    var inside = true;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
        let du = u32(d);
        let size = at8(p.out_shape, du);
        let n = i32(at8(p.in_shape, du));
        var j = i32(rest % size) - i32(at8(p.pad, du));
        rest /= size;
        if (p.mode == 1u) {
            j = select(j, -j, j < 0);
            j = select(j, 2 * (n - 1) - j, j >= n);
        } else if (p.mode == 2u) {
            j = clamp(j, 0, n - 1);
        }
        inside = inside && j >= 0 && j < n;
        off += u32(clamp(j, 0, n - 1)) * stride;
        stride *= u32(n);
    }
    y[p.y_off + i] = select(0.0, x[p.x_off + off], inside);
}
