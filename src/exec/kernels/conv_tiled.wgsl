// The entry point of `conv.wgsl` for real GPUs (compiled after it, sharing its params, bindings, tiles and
// pixel helpers). `conv.wgsl`'s own entry points are written for CPU adapters: 8 invocations with 256
// accumulators each, which on a GPU spill and leave most of each SM idle. Here a workgroup of 128
// invocations computes the same tile (64 output pixels × 4·NG output channels of one group, one class), as
// an implicit GEMM through workgroup memory:
//
// - the reduction runs tap by tap, 8 input channels at a time: the workgroup gathers the 64 pixels' input
//   values at those channels (zero in the padding and past the last channel) and the 8 weight rows of the
//   tile's columns into workgroup memory;
// - invocation (tx, ty) = (lane % 8, lane / 8) holds pixels `ty + 16i` (i < 4) × channels `4tx .. 4tx + 4`
//   in registers, so that reads of the gathered inputs by 16 neighbouring rows hit 16 neighbouring words.
//
// Column groups past NG are computed from clamped weights and never stored (another tile owns them).

const CT_ROWS: u32 = 64u;
const CT_K: u32 = 8u;

// [kk][pixel]: 8 × 64 input values; [kk][column group]: 8 × 8 weight vec4s.
var<workgroup> ct_a: array<f32, 512>;
var<workgroup> ct_b: array<vec4<f32>, 64>;

@compute @workgroup_size(128)
fn conv_tiled(ids: Ids) {
    let t = flat_group(ids.wid, ids.nwg);
    if (t >= p.tiles) {
        return;
    }
    let tl = tile(t);
    let lane = ids.lid;
    // Gathering role: pixel `lane % 64`, input channels `4 (lane / 64) ..` of each step.
    let gather = pixel_at(tl, tl.row0 + lane % CT_ROWS);
    let kq = 4u * (lane / CT_ROWS);
    // Computing role.
    let tx = lane % 8u;
    let ty = lane / 8u;
    let wg = p.offs.y + tl.g * p.w_gstride;
    var acc: array<vec4<f32>, 4>;
    for (var kidx = 0u; kidx < p.kdim.x * p.kdim.y * p.kdim.z; kidx++) {
        let off = tap_offset(tl, kidx);
        if (off.w < 0) {
            continue;
        }
        let at = tap_of(gather, off.xyz);
        let wk = wg + kidx * p.w_kstride;
        for (var ci = 0u; ci < p.cig; ci += CT_K) {
            for (var q = 0u; q < 4u; q++) {
                let c = ci + kq + q;
                var v = 0.0;
                if (at.y != 0u && c < p.cig) {
                    v = x[at.x + c * p.idim.w];
                }
                ct_a[(kq + q) * CT_ROWS + lane % CT_ROWS] = v;
            }
            if (lane < 64u) {
                let kk = lane / 8u;
                var w = vec4<f32>(0.0);
                if (ci + kk < p.cig) {
                    w = w_row(wk + (ci + kk) * p.w_cstride, tl.col, lane % 8u);
                }
                ct_b[lane] = w;
            }
            workgroupBarrier();
            for (var kk = 0u; kk < CT_K; kk++) {
                let b = ct_b[kk * 8u + tx];
                for (var i = 0u; i < 4u; i++) {
                    acc[i] = fma(vec4<f32>(ct_a[kk * CT_ROWS + ty + 16u * i]), b, acc[i]);
                }
            }
            workgroupBarrier();
        }
    }
    if (tx < NG) {
        for (var i = 0u; i < 4u; i++) {
            store4(pixel_at(tl, tl.row0 + ty + 16u * i).out, tl.g, tl.col + 4u * tx, acc[i]);
        }
    }
}
