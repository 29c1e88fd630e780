// Strided copy, the one kernel of data movement: permute, slice and concat copies. Invocation i takes
// coordinates of the (collapsed) copy shape and moves one 32-bit word from `src_off + Σ c·src_stride` to
// `dst_off + Σ c·dst_stride`. Words, not floats: integer ids move through the same kernel.

struct Params {
    n: u32, rank: u32, src_off: u32, dst_off: u32,
    shape: Dims8,
    src_stride: Dims8,
    dst_stride: Dims8,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    let at = strided2(i, p.rank, p.shape, p.src_stride, p.dst_stride);
    dst[p.dst_off + at.y] = src[p.src_off + at.x];
}
