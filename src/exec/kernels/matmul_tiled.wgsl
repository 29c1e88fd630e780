// The GEMM of `matmul.wgsl` for real GPUs (compiled after it, sharing its params, bindings and helpers;
// VEC4 only). `matmul.wgsl`'s kernels are written for CPU adapters, where every load is paid per invocation
// and a few invocations with large register blocks are fastest; on a GPU those blocks spill and leave most
// of each SM idle. This is the classic workgroup-memory SGEMM instead:
//
// - a workgroup of 16×16 invocations computes a 128×128 tile of C;
// - k advances 8 at a time: the workgroup copies A's 128×8 and B's 8×128 slices into workgroup memory (one
//   vec4 of each per invocation, reads that neighbouring invocations make from neighbouring addresses), then
//   every invocation reads them back as vec4s;
// - invocation (tx, ty) holds an 8×8 block of C in registers: rows `4ty .. 4ty + 4` and `64 + 4ty ..`,
//   columns `4tx .. 4tx + 4` and `64 + 4tx ..`, so that the 16 invocations of a row read 16 consecutive vec4s
//   of workgroup memory (no bank conflicts) and store to neighbouring columns.
//
// Out-of-range rows and columns read clamped (valid) elements and are never stored; past the end of k, A
// and B read as zero. A is stored transposed in workgroup memory (k-major) so that a column slice of the
// tile is a vec4. Loops have constant bounds: a GPU's shader compiler unrolls them, so the accumulators stay
// in registers.

const TILE: u32 = 128u;
const HALF: u32 = 64u;
const KSTEP: u32 = 8u;

// A's slice, [kk][row / 4], then B's, [kk][col / 4]: 8 × 32 vec4s each.
const B_AT: u32 = 256u;
var<workgroup> tiles: array<vec4<f32>, 512>;

// C's block of one invocation: [2r] columns `4tx ..`, [2r + 1] columns `64 + 4tx ..` of its r-th row.
alias Block8 = array<vec4<f32>, 16>;

// Four consecutive k (`k ..`, a vec4 read along k) of row or column `m` of the slice at `base` (A's or
// B's), stored k-major: element (k, m) is vec4 base + k * 32 + m / 4, lane m % 4.
fn put_along_k(base: u32, k: u32, m: u32, v: vec4<f32>) {
    let at = base + k * 32u + m / 4u;
    let lane = m % 4u;
    tiles[at][lane] = v.x;
    tiles[at + 32u][lane] = v.y;
    tiles[at + 64u][lane] = v.z;
    tiles[at + 96u][lane] = v.w;
}

// Copies A's and B's slices at k = k0 .. k0 + 8 into workgroup memory; `t` is the invocation's index.
fn stage_tiles(blk: Block, k0: u32, t: u32) {
    // A: row t / 2 of the tile, k = k0 + 4 (t % 2) .. + 4.
    let m = t / 2u;
    let kq = 4u * (t % 2u);
    var av = vec4<f32>(0.0);
    if (k0 + kq < p.k) {
        av = a4[(blk.a + min(blk.row + m, p.m - 1u) * p.lda + k0 + kq) / 4u];
    }
    put_along_k(0u, kq, m, av);
    if (TRANSPOSE_B) {
        // B is [n, k]: column t / 2 of the tile, read along k like A.
        var bv = vec4<f32>(0.0);
        if (k0 + kq < p.k) {
            bv = b4[(blk.b + min(blk.col + m, p.n - 1u) * p.k + k0 + kq) / 4u];
        }
        put_along_k(B_AT, kq, m, bv);
    } else {
        // B is [k, n]: row t / 32 of the slice, columns 4 (t % 32) .. + 4 (clamped to the last whole vec4:
        // n is a multiple of 4, and columns past n are never stored).
        let kk = t / 32u;
        let c4 = t % 32u;
        var bv = vec4<f32>(0.0);
        if (k0 + kk < p.k) {
            bv = b4[(blk.b + (k0 + kk) * p.n + min(blk.col + 4u * c4, p.n - 4u)) / 4u];
        }
        tiles[B_AT + kk * 32u + c4] = bv;
    }
}

@compute @workgroup_size(16, 16)
fn mm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let z = p.batch0 + wid.z;
    let offs = strided2(z, p.batch_rank, p.batch_shape, p.a_bstride, p.b_bstride);
    // The tile's first row and column (`Block` here names the tile, not one invocation's block).
    let blk = Block(z, p.a_off + offs.x, p.b_off + offs.y, p.row0 + wid.y * TILE, p.col0 + wid.x * TILE);
    let t = lid.y * 16u + lid.x;
    var acc: Block8;
    for (var k0 = 0u; k0 < p.k; k0 += KSTEP) {
        stage_tiles(blk, k0, t);
        workgroupBarrier();
        for (var kk = 0u; kk < KSTEP; kk++) {
            let a_lo = tiles[kk * 32u + lid.y];
            let a_hi = tiles[kk * 32u + 16u + lid.y];
            let b_lo = tiles[B_AT + kk * 32u + lid.x];
            let b_hi = tiles[B_AT + kk * 32u + 16u + lid.x];
            for (var r = 0u; r < 4u; r++) {
                acc[2u * r] = fma(vec4<f32>(a_lo[r]), b_lo, acc[2u * r]);
                acc[2u * r + 1u] = fma(vec4<f32>(a_lo[r]), b_hi, acc[2u * r + 1u]);
                acc[8u + 2u * r] = fma(vec4<f32>(a_hi[r]), b_lo, acc[8u + 2u * r]);
                acc[8u + 2u * r + 1u] = fma(vec4<f32>(a_hi[r]), b_hi, acc[8u + 2u * r + 1u]);
            }
        }
        workgroupBarrier();
    }
    let col = blk.col + 4u * lid.x;
    for (var r = 0u; r < 4u; r++) {
        store_cols(blk.z, blk.row + 4u * lid.y + r, col, HALF, acc[2u * r], acc[2u * r + 1u]);
        store_cols(blk.z, blk.row + HALF + 4u * lid.y + r, col, HALF, acc[8u + 2u * r], acc[8u + 2u * r + 1u]);
    }
}
