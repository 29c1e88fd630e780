// Dense GEMM for `linear` and `matmul`: C[z] = scale * A[z] · B[z] (+ bias), A [m, k], B [k, n] (or [n, k]
// with TRANSPOSE_B), C [m, n], for every batch element z. Batch axes broadcast: each operand has its own
// batch strides, 0 along axes it repeats.
//
// Register blocking: one invocation computes a 32×8 block of C held in registers: rows `row .. row + 32`,
// columns `col .. col + 4` and `col + 32 .. col + 36` (two groups of 4, so that neighbouring invocations
// touch neighbouring addresses). There is no workgroup memory: on CPU adapters (lavapipe) every load is
// paid per invocation, shared or not, so what counts is how many multiply-adds each loaded value feeds.
// k advances four at a time: A gives 4 values per row, B four rows of 8 columns.
//
// Accumulators live in groups of 8 rows (`Rows8`) indexed only by constants: an array indexed by a loop
// variable that the driver does not unroll ends up in memory, which halves the speed of the whole kernel.
// Out-of-range rows and columns read a clamped (valid) element and are never stored; past the end of k, B
// reads as zero. So any size works.
//
// VEC4 (k, n and every offset multiples of 4) loads A and B as vec4s; otherwise element by element. A and
// B are bound as vec4 arrays either way (buffers are sized in multiples of 16 bytes); C and the bias as
// floats, because a vec4 store could race with a neighbour's when n is not a multiple of 4.
// `matmul_subgroup.wgsl` adds a faster entry point for adapters with subgroups.

struct Params {
    m: u32, n: u32, k: u32, batch_rank: u32,
    a_off: u32, b_off: u32, c_off: u32, bias_off: u32,
    // This dispatch's first row, column and batch element (a grid larger than the dispatch limits is
    // split into several dispatches).
    row0: u32, col0: u32, batch0: u32, has_bias: u32,
    // A's row stride (k, or more when this dispatch is one slice of a longer reduction), and whether C
    // accumulates onto what an earlier slice wrote.
    scale: f32, lda: u32, accumulate: u32, _p2: u32,
    batch_shape: Dims8,
    // Element strides of each operand's batch, 0 where it broadcasts.
    a_bstride: Dims8,
    b_bstride: Dims8,
}

override TRANSPOSE_B: bool = false;
override VEC4: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Accumulators of 8 rows: [2r] columns `col ..`, [2r + 1] columns `col + 32 ..` of row r. A block is four
// separate groups (an array of groups, indexed through pointers, runs at half the speed on lavapipe).
alias Rows8 = array<vec4<f32>, 16>;

// The block of C one invocation computes: its batch element, where that element's A and B start, and its
// first row and column. A workgroup covers `tile_rows` rows, 32 more per invocation along y.
struct Block {
    z: u32,
    a: u32,
    b: u32,
    row: u32,
    col: u32,
}

fn block(wid: vec3<u32>, lid: vec3<u32>, tile_rows: u32) -> Block {
    let z = p.batch0 + wid.z;
    let offs = strided2(z, p.batch_rank, p.batch_shape, p.a_bstride, p.b_bstride);
    let row = p.row0 + wid.y * tile_rows + lid.y * 32u;
    let col = p.col0 + wid.x * 64u + lid.x * 4u;
    return Block(z, p.a_off + offs.x, p.b_off + offs.y, row, col);
}

// Element i of A or B read through their vec4 bindings.
fn a_at(i: u32) -> f32 {
    return a4[i / 4u][i % 4u];
}

fn b_at(i: u32) -> f32 {
    return b4[i / 4u][i % 4u];
}

// Where rows `first, first + step, …` (8 of them) of the block start in A, clamped to the last row; in
// vec4s with VEC4, else in elements.
fn a_rows(blk: Block, first: u32, step: u32) -> array<u32, 8> {
    var rows: array<u32, 8>;
    for (var r = 0u; r < 8u; r++) {
        rows[r] = (blk.a + min(blk.row + first + step * r, p.m - 1u) * p.lda) / select(1u, 4u, VEC4);
    }
    return rows;
}

// A at k = 4i .. 4i + 4 for 8 rows (k clamped to the last column: B is zero past it).
fn load_a8(ar: array<u32, 8>, i: u32) -> array<vec4<f32>, 8> {
    if (VEC4) {
        return array<vec4<f32>, 8>(a4[ar[0] + i], a4[ar[1] + i], a4[ar[2] + i], a4[ar[3] + i],
                                   a4[ar[4] + i], a4[ar[5] + i], a4[ar[6] + i], a4[ar[7] + i]);
    }
    var out: array<vec4<f32>, 8>;
    let k = 4u * i;
    let last = p.k - 1u;
    for (var r = 0u; r < 8u; r++) {
        out[r] = vec4<f32>(a_at(ar[r] + min(k, last)), a_at(ar[r] + min(k + 1u, last)), a_at(ar[r] + min(k + 2u, last)), a_at(ar[r] + min(k + 3u, last)));
    }
    return out;
}

// Four columns given as vec4s along k, as four rows along the columns.
fn transpose4(c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32>) -> array<vec4<f32>, 4> {
    return array<vec4<f32>, 4>(vec4<f32>(c0.x, c1.x, c2.x, c3.x), vec4<f32>(c0.y, c1.y, c2.y, c3.y),
                               vec4<f32>(c0.z, c1.z, c2.z, c3.z), vec4<f32>(c0.w, c1.w, c2.w, c3.w));
}

// Where column j (clamped) of the product starts in a transposed B, in vec4s.
fn bt_col(blk: Block, j: u32) -> u32 {
    return (blk.b + min(j, p.n - 1u) * p.k) / 4u;
}

// B(k, j) for either layout, clamped into B, and 0 past the end of k.
fn b_elem(blk: Block, k: u32, j: u32) -> f32 {
    let jc = min(j, p.n - 1u);
    let kc = min(k, p.k - 1u);
    return select(0.0, b_at(blk.b + select(kc * p.n + jc, jc * p.k + kc, TRANSPOSE_B)), k < p.k);
}

// B at k = 4i .. 4i + 4 for this block's columns: [q] (q < 4) holds columns `col ..` of row 4i + q, [4 + q]
// columns `col + 32 ..`. A transposed B ([n, k]) is read along k and transposed in registers.
fn load_b(blk: Block, i: u32) -> array<vec4<f32>, 8> {
    if (VEC4 && TRANSPOSE_B) {
        let c = blk.col;
        let x = transpose4(b4[bt_col(blk, c) + i], b4[bt_col(blk, c + 1u) + i], b4[bt_col(blk, c + 2u) + i], b4[bt_col(blk, c + 3u) + i]);
        let d = c + 32u;
        let y = transpose4(b4[bt_col(blk, d) + i], b4[bt_col(blk, d + 1u) + i], b4[bt_col(blk, d + 2u) + i], b4[bt_col(blk, d + 3u) + i]);
        return array<vec4<f32>, 8>(x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3]);
    }
    if (VEC4) {
        let nv = p.n / 4u;
        let x = (blk.b + min(blk.col, p.n - 4u)) / 4u + 4u * i * nv;
        let y = (blk.b + min(blk.col + 32u, p.n - 4u)) / 4u + 4u * i * nv;
        return array<vec4<f32>, 8>(b4[x], b4[x + nv], b4[x + 2u * nv], b4[x + 3u * nv],
                                   b4[y], b4[y + nv], b4[y + 2u * nv], b4[y + 3u * nv]);
    }
    var out: array<vec4<f32>, 8>;
    for (var h = 0u; h < 2u; h++) {
        let j = blk.col + 32u * h;
        for (var q = 0u; q < 4u; q++) {
            let k = 4u * i + q;
            out[4u * h + q] = vec4<f32>(b_elem(blk, k, j), b_elem(blk, k, j + 1u), b_elem(blk, k, j + 2u), b_elem(blk, k, j + 3u));
        }
    }
    return out;
}

// Row r of a group += a (A at four consecutive k) · b (from `load_b`). `r` is always a constant.
fn fma_row(acc: ptr<function, Rows8>, r: u32, a: vec4<f32>, b: array<vec4<f32>, 8>) {
    (*acc)[2u * r] = fma(vec4<f32>(a.x), b[0], fma(vec4<f32>(a.y), b[1], fma(vec4<f32>(a.z), b[2], fma(vec4<f32>(a.w), b[3], (*acc)[2u * r]))));
    (*acc)[2u * r + 1u] = fma(vec4<f32>(a.x), b[4], fma(vec4<f32>(a.y), b[5], fma(vec4<f32>(a.z), b[6], fma(vec4<f32>(a.w), b[7], (*acc)[2u * r + 1u]))));
}

// All 8 rows of a group, `a` holding each row's A values.
fn fma8(acc: ptr<function, Rows8>, a: array<vec4<f32>, 8>, b: array<vec4<f32>, 8>) {
    fma_row(acc, 0u, a[0], b);
    fma_row(acc, 1u, a[1], b);
    fma_row(acc, 2u, a[2], b);
    fma_row(acc, 3u, a[3], b);
    fma_row(acc, 4u, a[4], b);
    fma_row(acc, 5u, a[5], b);
    fma_row(acc, 6u, a[6], b);
    fma_row(acc, 7u, a[7], b);
}

// Writes one row of C (scaled, plus bias, onto what an earlier slice of k wrote where accumulating) where it
// lies inside C: `lo` at columns `col ..`, `hi` at `col + gap ..`, of batch element `z`.
fn store_cols(z: u32, row: u32, col: u32, gap: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (row >= p.m) {
        return;
    }
    let at = p.c_off + z * p.m * p.n + row * p.n;
    for (var e = 0u; e < 8u; e++) {
        let j = col + (e / 4u) * gap + e % 4u;
        if (j < p.n) {
            var bj = 0.0;
            if (p.has_bias != 0u) {
                bj = bias[p.bias_off + j];
            }
            let before = select(0.0, c[at + j], p.accumulate != 0u);
            c[at + j] = before + select(lo[e % 4u], hi[e % 4u], e >= 4u) * p.scale + bj;
        }
    }
}

// One row of the block: `lo` columns `col ..`, `hi` columns `col + 32 ..`.
fn store_row(blk: Block, row: u32, lo: vec4<f32>, hi: vec4<f32>) {
    store_cols(blk.z, row, blk.col, 32u, lo, hi);
}

// Rows `first .. first + 8` of the block. Accumulators are indexed by constants only: one index computed
// at run time anywhere would push all of them into memory.
fn store8(blk: Block, first: u32, acc: ptr<function, Rows8>) {
    let r = blk.row + first;
    store_row(blk, r, (*acc)[0], (*acc)[1]);
    store_row(blk, r + 1u, (*acc)[2], (*acc)[3]);
    store_row(blk, r + 2u, (*acc)[4], (*acc)[5]);
    store_row(blk, r + 3u, (*acc)[6], (*acc)[7]);
    store_row(blk, r + 4u, (*acc)[8], (*acc)[9]);
    store_row(blk, r + 5u, (*acc)[10], (*acc)[11]);
    store_row(blk, r + 6u, (*acc)[12], (*acc)[13]);
    store_row(blk, r + 7u, (*acc)[14], (*acc)[15]);
}

// A workgroup of 8×2 invocations covers a 64×64 tile.
@compute @workgroup_size(8, 2)
fn mm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block(wid, lid, 64u);
    let r0 = a_rows(blk, 0u, 1u);
    let r1 = a_rows(blk, 8u, 1u);
    let r2 = a_rows(blk, 16u, 1u);
    let r3 = a_rows(blk, 24u, 1u);
    var acc0: Rows8;
    var acc1: Rows8;
    var acc2: Rows8;
    var acc3: Rows8;
    for (var i = 0u; i < (p.k + 3u) / 4u; i++) {
        let b = load_b(blk, i);
        fma8(&acc0, load_a8(r0, i), b);
        fma8(&acc1, load_a8(r1, i), b);
        fma8(&acc2, load_a8(r2, i), b);
        fma8(&acc3, load_a8(r3, i), b);
    }
    store8(blk, 0u, &acc0);
    store8(blk, 8u, &acc1);
    store8(blk, 16u, &acc2);
    store8(blk, 24u, &acc3);
}
