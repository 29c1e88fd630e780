// The GEMM of `matmul.wgsl` for adapters with subgroups (compiled after it, sharing its params, bindings
// and helpers; VEC4 only). A workgroup is 8 invocations of one subgroup computing a 32×64 tile: invocation
// `lane` owns columns `col ..` and `col + 32 ..` of all 32 rows. Each invocation loads only 4 of the 32
// rows of A (rows lane, lane + 8, lane + 16, lane + 24) and receives the others by `subgroupBroadcast`, a
// register shuffle: on CPU adapters, where each load is paid per invocation, this cuts loads per
// multiply-add by about three.
//
// Needs subgroups of at least 8 invocations.

// The A values of 8 consecutive rows of the tile, where invocation j loaded row j into `w`. Broadcast
// lanes must be constants.
fn broadcast8(w: vec4<f32>) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(subgroupBroadcast(w, 0u), subgroupBroadcast(w, 1u), subgroupBroadcast(w, 2u), subgroupBroadcast(w, 3u),
                               subgroupBroadcast(w, 4u), subgroupBroadcast(w, 5u), subgroupBroadcast(w, 6u), subgroupBroadcast(w, 7u));
}

@compute @workgroup_size(8, 1)
fn mm_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = block(wid, lid, 32u);
    let own = a_rows(blk, lid.x, 8u);
    var acc0: Rows8;
    var acc1: Rows8;
    var acc2: Rows8;
    var acc3: Rows8;
    for (var i = 0u; i < p.k / 4u; i++) {
        let b = load_b(blk, i);
        fma8(&acc0, broadcast8(a4[own[0] + i]), b);
        fma8(&acc1, broadcast8(a4[own[1] + i]), b);
        fma8(&acc2, broadcast8(a4[own[2] + i]), b);
        fma8(&acc3, broadcast8(a4[own[3] + i]), b);
    }
    store8(blk, 0u, &acc0);
    store8(blk, 8u, &acc1);
    store8(blk, 16u, &acc2);
    store8(blk, 24u, &acc3);
}
