// Convolutions, 1-D to 3-D (1-D and 2-D are 3-D with unit axes in front), as an implicit GEMM per group:
// rows are output pixels (batch × spatial), columns the group's output channels, and the reduction runs
// over taps × the group's input channels. A (the im2col matrix) is never built: each row gathers its
// input values tap by tap, zero where a tap falls into the padding.
//
// Transposed convolutions are the same GEMM as a gather: output o receives input i through tap k when
// o = i·s - p + k·d, so i = (o + p - k·d) / s where that divides. Output positions are split into s
// classes per axis (o = c + s·r): within a class every tap either always divides or never does, so a
// workgroup (one class) skips whole taps and a transposed convolution costs what its FLOPs say. A forward
// convolution has one class; its rows are its output positions.
//
// Register blocking as in `matmul.wgsl`: no workgroup memory (on CPU adapters every load is paid per
// invocation), and each invocation keeps a block of the output in registers: 8 pixels × 4·NG channels
// (NG groups of 4, a `Pix8` each), the pixels `row0 + lane + 8j`. The 8 invocations of a workgroup take
// neighbouring pixels and the same channels. Taps are the outer loop: a pixel's input address and whether
// the tap is inside the input are found once per tap, then the input channels stream past four at a time:
// 8 × 4 input values and 4 weight rows of 4·NG channels feed 128·NG multiply-adds, chained four deep per
// accumulator (k advances by four, as in the GEMM). Past the last input channel the weights read as zero.
//
// How the weight rows arrive is up to the file compiled after this one (`weights`, and the entry point):
// `conv_plain.wgsl` loads them in every invocation, `conv_subgroup.wgsl` has each invocation load one
// group and share it with a subgroup broadcast.
//
// Weights are `[taps, rows, columns]` with the output channels contiguous (see `params.rs`); VEC4 (every
// stride and offset of the weights a multiple of 4) reads them as vec4s, otherwise element by element.
// Bias is added on the way out. Channels past the group's end read a clamped weight and are never stored.

struct Params {
    // Rows of one class (batch × row-space positions), row tiles, column tiles, all tiles.
    rows: u32, row_tiles: u32, col_tiles: u32, tiles: u32,
    groups: u32, cog: u32, cig: u32, has_bias: u32,
    // Per-axis values are (z, y, x) in .xyz.
    // The row space: output positions of one class; w: classes along x.
    rdim: vec4<u32>,
    // Output spatial size; w: output positions per channel.
    odim: vec4<u32>,
    // Input spatial size; w: input positions per channel (the channel stride).
    idim: vec4<u32>,
    // Kernel size; w: 1 for a transposed convolution.
    kdim: vec4<u32>,
    // Stride; w: classes along y.
    stride: vec4<u32>,
    pad: vec4<u32>,
    dil: vec4<u32>,
    // Element offsets of x, weight, bias, y.
    offs: vec4<u32>,
    // Batch strides of x and y; weight strides per tap, per input channel (row) and per group.
    in_bstride: u32, out_bstride: u32, w_kstride: u32, w_cstride: u32,
    // accumulate: add onto y (this dispatch is a later run of the input channels; see `conv.rs`).
    w_gstride: u32, accumulate: u32, _p1: u32, _p2: u32,
}

// Column groups of 4 per invocation: 1, 2, 4 or 8.
override NG: u32 = 8u;
override VEC4: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// 8 pixels × 4 channels of the block.
alias Pix8 = array<vec4<f32>, 8>;

// What one tile (workgroup) computes: its group, class, first row and first column.
struct Tile {
    g: u32,
    cls: vec3<u32>,
    row0: u32,
    col: u32,
}

fn tile(t: u32) -> Tile {
    let ct = t % p.col_tiles;
    var rest = t / p.col_tiles;
    let rt = rest % p.row_tiles;
    rest /= p.row_tiles;
    let g = rest % p.groups;
    let cls = rest / p.groups;
    let cx = p.rdim.w;
    let cy = p.stride.w;
    return Tile(g, vec3<u32>(cls / (cx * cy), (cls / cx) % cy, cls % cx), rt * 64u, ct * 4u * NG);
}

// One output pixel (row `r` of the tile's class): where its input window starts (before the tap offset; far
// outside for rows past the end), where its batch element's input channels of the group start, and where
// its output goes (channel 0 of the group; 0xffffffff past the end).
struct Pixel {
    i0: vec3<i32>,
    base: u32,
    out: u32,
}

fn pixel_at(tl: Tile, r: u32) -> Pixel {
    let transposed = p.kdim.w != 0u;
    let rx = r % p.rdim.z;
    var q = r / p.rdim.z;
    let ry = q % p.rdim.y;
    q /= p.rdim.y;
    let rz = q % p.rdim.x;
    let b = q / p.rdim.x;
    let rv = vec3<u32>(rz, ry, rx);
    let o = select(rv, tl.cls + p.stride.xyz * rv, transposed);
    let valid = r < p.rows && all(o < p.odim.xyz);
    // Forward: input o·s - p + k·d; transposed: r + (c + p - k·d) / s, the tap part added per tap.
    let i0 = select(vec3<i32>(rv * p.stride.xyz) - vec3<i32>(p.pad.xyz), vec3<i32>(rv), transposed);
    return Pixel(
        select(vec3<i32>(-0x40000000), i0, valid),
        select(p.offs.x, p.offs.x + b * p.in_bstride + tl.g * p.cig * p.idim.w, valid),
        select(0xffffffffu, p.offs.w + b * p.out_bstride + tl.g * p.cog * p.odim.w + (o.x * p.odim.y + o.y) * p.odim.z + o.z, valid),
    );
}

// The invocation's 8 pixels, `row0 + lane + 8j`.
struct Pixels {
    i0: array<vec3<i32>, 8>,
    base: array<u32, 8>,
    out: array<u32, 8>,
}

fn pixels(tl: Tile, lane: u32) -> Pixels {
    var px: Pixels;
    for (var j = 0u; j < 8u; j++) {
        let one = pixel_at(tl, tl.row0 + lane + 8u * j);
        px.i0[j] = one.i0;
        px.base[j] = one.base;
        px.out[j] = one.out;
    }
    return px;
}

// Where pixel `px`'s input is at tap offset `t`, and whether it is inside the input.
fn tap_of(px: Pixel, t: vec3<i32>) -> vec2<u32> {
    let d = vec3<i32>(p.idim.xyz);
    let i = px.i0 + t;
    let inside = all(vec3<u32>(i) < p.idim.xyz);
    return vec2<u32>(select(px.base, px.base + u32((i.x * d.y + i.y) * d.z + i.z), inside), u32(inside));
}

// The tap offset of kernel position `kidx` (z, y, x in row-major order, as the weights' taps) for the
// tile's class: the input offset k·d of a forward convolution; for a transposed one (c + p - k·d) / s, or
// a negative `.w` when that tap never reaches the class (the same for every pixel of the tile).
fn tap_offset(tl: Tile, kidx: u32) -> vec4<i32> {
    let k = vec3<i32>(vec3<u32>(kidx / (p.kdim.y * p.kdim.z), (kidx / p.kdim.z) % p.kdim.y, kidx % p.kdim.z));
    let dil = vec3<i32>(p.dil.xyz);
    if (p.kdim.w == 0u) {
        return vec4<i32>(k * dil, 0);
    }
    let s = vec3<i32>(p.stride.xyz);
    let num = vec3<i32>(tl.cls) + vec3<i32>(p.pad.xyz) - k * dil;
    if (any(num % s != vec3<i32>(0))) {
        return vec4<i32>(0, 0, 0, -1);
    }
    return vec4<i32>(num / s, 0);
}

// Input addresses of the 8 pixels at tap offset `t`, and whether each is inside the input.
struct Taps {
    addr: array<u32, 8>,
    inside: array<bool, 8>,
}

fn taps(px: Pixels, t: vec3<i32>) -> Taps {
    var out: Taps;
    for (var j = 0u; j < 8u; j++) {
        let at = tap_of(Pixel(px.i0[j], px.base[j], px.out[j]), t);
        out.inside[j] = at.y != 0u;
        out.addr[j] = at.x;
    }
    return out;
}

// Pixel j's input values at input channel offsets `o` (zero outside the input).
fn a4(tp: Taps, j: u32, o: vec4<u32>) -> vec4<f32> {
    let at = tp.addr[j];
    return select(vec4<f32>(0.0), vec4<f32>(x[at + o.x], x[at + o.y], x[at + o.z], x[at + o.w]), tp.inside[j]);
}

// The 8 pixels' input values at input channels `ci .. ci + 4` (clamped to the last one: the weights are
// zero past it), one vec4 per pixel.
fn load_a(tp: Taps, ci: u32) -> array<vec4<f32>, 8> {
    let last = p.cig - 1u;
    let o = vec4<u32>(ci, min(ci + 1u, last), min(ci + 2u, last), min(ci + 3u, last)) * p.idim.w;
    return array<vec4<f32>, 8>(a4(tp, 0u, o), a4(tp, 1u, o), a4(tp, 2u, o), a4(tp, 3u, o), a4(tp, 4u, o), a4(tp, 5u, o), a4(tp, 6u, o), a4(tp, 7u, o));
}

// Weight element i read through the vec4 binding.
fn w_at(i: u32) -> f32 {
    return w4[i / 4u][i % 4u];
}

// Columns `col + 4q ..` of the weight row that starts (for column 0) at `row`, clamped into the group.
fn w_row(row: u32, col: u32, q: u32) -> vec4<f32> {
    if (VEC4) {
        return w4[(row + min(col + 4u * q, p.cog - 4u)) / 4u];
    }
    let n = col + 4u * q;
    let last = p.cog - 1u;
    return vec4<f32>(w_at(row + min(n, last)), w_at(row + min(n + 1u, last)), w_at(row + min(n + 2u, last)), w_at(row + min(n + 3u, last)));
}

// Four weight rows (input channels) of one group of 4 output channels.
alias B4 = array<vec4<f32>, 4>;
// Those of all 8 groups an invocation may accumulate (groups past NG are never read).
alias B32 = array<B4, 8>;

// Columns `col + 4q ..` in the rows of input channels `ci .. ci + 4` of the tap whose rows start at `row`
// (zero past the last input channel).
fn load_b(row: u32, ci: u32, col: u32, q: u32) -> B4 {
    let r = row + ci * p.w_cstride;
    let zero = vec4<f32>(0.0);
    return B4(w_row(r, col, q),
              select(zero, w_row(r + p.w_cstride, col, q), ci + 1u < p.cig),
              select(zero, w_row(r + 2u * p.w_cstride, col, q), ci + 2u < p.cig),
              select(zero, w_row(r + 3u * p.w_cstride, col, q), ci + 3u < p.cig));
}

// One pixel's 4 channels += its input at 4 input channels (a) · those channels' weight rows (b).
fn fma4(acc: vec4<f32>, a: vec4<f32>, b: B4) -> vec4<f32> {
    return fma(vec4<f32>(a.x), b[0], fma(vec4<f32>(a.y), b[1], fma(vec4<f32>(a.z), b[2], fma(vec4<f32>(a.w), b[3], acc))));
}

// The 8 pixels' accumulators of one group of 4 output channels.
fn fma8(acc: ptr<function, Pix8>, a: array<vec4<f32>, 8>, b: B4) {
    (*acc)[0] = fma4((*acc)[0], a[0], b);
    (*acc)[1] = fma4((*acc)[1], a[1], b);
    (*acc)[2] = fma4((*acc)[2], a[2], b);
    (*acc)[3] = fma4((*acc)[3], a[3], b);
    (*acc)[4] = fma4((*acc)[4], a[4], b);
    (*acc)[5] = fma4((*acc)[5], a[5], b);
    (*acc)[6] = fma4((*acc)[6], a[6], b);
    (*acc)[7] = fma4((*acc)[7], a[7], b);
}

// Channels `n .. n + 4` of one pixel whose output starts at `at` (plus bias, or plus what is there when
// accumulating), those that exist.
fn store4(at: u32, g: u32, n: u32, v: vec4<f32>) {
    if (at == 0xffffffffu) {
        return;
    }
    for (var e = 0u; e < 4u; e++) {
        if (n + e < p.cog) {
            let o = at + (n + e) * p.odim.w;
            var base = 0.0;
            if (p.has_bias != 0u) {
                base = bias[p.offs.z + g * p.cog + n + e];
            }
            if (p.accumulate != 0u) {
                base = y[o];
            }
            y[o] = v[e] + base;
        }
    }
}

// Channels `n .. n + 4` of the 8 pixels. Accumulators are indexed by constants only: one index computed
// at run time would push all of them into memory.
fn store8(px: Pixels, g: u32, n: u32, acc: ptr<function, Pix8>) {
    store4(px.out[0], g, n, (*acc)[0]);
    store4(px.out[1], g, n, (*acc)[1]);
    store4(px.out[2], g, n, (*acc)[2]);
    store4(px.out[3], g, n, (*acc)[3]);
    store4(px.out[4], g, n, (*acc)[4]);
    store4(px.out[5], g, n, (*acc)[5]);
    store4(px.out[6], g, n, (*acc)[6]);
    store4(px.out[7], g, n, (*acc)[7]);
}

// The convolution, for the entry point of the file compiled after this one.
fn run(ids: Ids) {
    let t = flat_group(ids.wid, ids.nwg);
    if (t >= p.tiles) {
        return;
    }
    let tl = tile(t);
    let px = pixels(tl, ids.lid);
    // Where the group's weights start.
    let wg = p.offs.y + tl.g * p.w_gstride;
    var acc0: Pix8;
    var acc1: Pix8;
    var acc2: Pix8;
    var acc3: Pix8;
    var acc4: Pix8;
    var acc5: Pix8;
    var acc6: Pix8;
    var acc7: Pix8;
    for (var kidx = 0u; kidx < p.kdim.x * p.kdim.y * p.kdim.z; kidx++) {
        let off = tap_offset(tl, kidx);
        if (off.w < 0) {
            continue;
        }
        let tp = taps(px, off.xyz);
        let wk = wg + kidx * p.w_kstride;
        for (var ci = 0u; ci < p.cig; ci += 4u) {
            let a = load_a(tp, ci);
            let b = weights(wk, ci, tl.col, ids.lid);
            fma8(&acc0, a, b[0]);
            if (NG > 1u) {
                fma8(&acc1, a, b[1]);
            }
            if (NG > 2u) {
                fma8(&acc2, a, b[2]);
                fma8(&acc3, a, b[3]);
            }
            if (NG > 4u) {
                fma8(&acc4, a, b[4]);
                fma8(&acc5, a, b[5]);
                fma8(&acc6, a, b[6]);
                fma8(&acc7, a, b[7]);
            }
        }
    }
    store8(px, tl.g, tl.col, &acc0);
    if (NG > 1u) {
        store8(px, tl.g, tl.col + 4u, &acc1);
    }
    if (NG > 2u) {
        store8(px, tl.g, tl.col + 8u, &acc2);
        store8(px, tl.g, tl.col + 12u, &acc3);
    }
    if (NG > 4u) {
        store8(px, tl.g, tl.col + 16u, &acc4);
        store8(px, tl.g, tl.col + 20u, &acc5);
        store8(px, tl.g, tl.col + 24u, &acc6);
        store8(px, tl.g, tl.col + 28u, &acc7);
    }
}
