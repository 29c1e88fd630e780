// The entry point of `conv.wgsl` for adapters with subgroups of at least 8 invocations (a workgroup is one
// subgroup): all 8 invocations need the same weight rows, so invocation q loads those of column group q
// (of NG; the others repeat one) and the rest arrive by `subgroupBroadcast`, a register shuffle, instead
// of NG loads each. Broadcast lanes must be constants.

fn weights(row: u32, ci: u32, col: u32, lane: u32) -> B32 {
    let w = load_b(row, ci, col, lane % NG);
    return B32(
        B4(subgroupBroadcast(w[0], 0u), subgroupBroadcast(w[1], 0u), subgroupBroadcast(w[2], 0u), subgroupBroadcast(w[3], 0u)),
        B4(subgroupBroadcast(w[0], 1u), subgroupBroadcast(w[1], 1u), subgroupBroadcast(w[2], 1u), subgroupBroadcast(w[3], 1u)),
        B4(subgroupBroadcast(w[0], 2u), subgroupBroadcast(w[1], 2u), subgroupBroadcast(w[2], 2u), subgroupBroadcast(w[3], 2u)),
        B4(subgroupBroadcast(w[0], 3u), subgroupBroadcast(w[1], 3u), subgroupBroadcast(w[2], 3u), subgroupBroadcast(w[3], 3u)),
        B4(subgroupBroadcast(w[0], 4u), subgroupBroadcast(w[1], 4u), subgroupBroadcast(w[2], 4u), subgroupBroadcast(w[3], 4u)),
        B4(subgroupBroadcast(w[0], 5u), subgroupBroadcast(w[1], 5u), subgroupBroadcast(w[2], 5u), subgroupBroadcast(w[3], 5u)),
        B4(subgroupBroadcast(w[0], 6u), subgroupBroadcast(w[1], 6u), subgroupBroadcast(w[2], 6u), subgroupBroadcast(w[3], 6u)),
        B4(subgroupBroadcast(w[0], 7u), subgroupBroadcast(w[1], 7u), subgroupBroadcast(w[2], 7u), subgroupBroadcast(w[3], 7u)));
}

@compute @workgroup_size(8)
fn conv(ids: Ids) {
    run(ids);
}
