// Prepended to every kernel file.
//
// Conventions: binding 0 is the kernel's uniform `Params`; bindings 1.. are storage buffers, inputs first
// (read-only), the output last. Buffers are bound whole, or as a window around what one piece of an op
// larger than a binding touches (`exec/split.rs`); a tensor starts at an element offset given in the params
// (from the window's start), because views (reshapes, contiguous slices) alias their producer's buffer at
// an offset.

// One dispatch holds at most 65535 workgroups per grid dimension, so a large 1-D launch is spread over x, y
// and z (see `kernels::grid`); this is the flat index of a workgroup in such a grid.
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}

// Up to 8 sizes or strides, one per axis, in a kernel's uniform params. Two vectors rather than an array:
// helpers take them by value, and an array copied into a function is indexed in memory, per invocation,
// which made index arithmetic the slowest part of a kernel on lavapipe.
struct Dims8 {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

// Entry `i` of a `Dims8`.
fn at8(v: Dims8, i: u32) -> u32 {
    return select(v.hi[i % 4u], v.lo[i % 4u], i < 4u);
}

// Splits the flat row-major index `i` into coordinates of `shape` (its first `rank` axes) and returns the
// element offsets of those coordinates under two sets of strides (two operands walking one index space).
fn strided2(i: u32, rank: u32, shape: Dims8, s0: Dims8, s1: Dims8) -> vec2<u32> {
    var rest = i;
    var off = vec2<u32>(0u);
    for (var d = i32(rank) - 1; d >= 0; d--) {
        let du = u32(d);
        let size = at8(shape, du);
        let c = rest % size;
        rest = rest / size;
        off += c * vec2<u32>(at8(s0, du), at8(s1, du));
    }
    return off;
}

// The builtins of a kernel on a flat grid, as one entry-point parameter.
struct Ids {
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
}

// The flat index of this invocation's item when each workgroup takes `per_group` consecutive items.
fn item(ids: Ids, per_group: u32) -> u32 {
    return flat_group(ids.wid, ids.nwg) * per_group + ids.lid;
}

// Workgroup memory for `reduce64`.
var<workgroup> scratch: array<f32, 64>;

// `v` of the 64 invocations of a workgroup combined (their max when `is_max`, else their sum), returned to
// every invocation. Call it from uniform control flow: it waits at barriers.
fn reduce64(v: f32, lid: u32, is_max: bool) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            scratch[lid] = select(scratch[lid] + scratch[lid + s], max(scratch[lid], scratch[lid + s]), is_max);
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    // Nobody may overwrite the scratch for a next reduction before everyone has read this one.
    workgroupBarrier();
    return total;
}
