// The entry point of `conv.wgsl` for any adapter: every invocation loads the weight rows of all its
// column groups itself.

fn weights(row: u32, ci: u32, col: u32, lane: u32) -> B32 {
    var b: B32;
    b[0] = load_b(row, ci, col, 0u);
    if (NG > 1u) {
        b[1] = load_b(row, ci, col, 1u);
    }
    if (NG > 2u) {
        b[2] = load_b(row, ci, col, 2u);
        b[3] = load_b(row, ci, col, 3u);
    }
    if (NG > 4u) {
        b[4] = load_b(row, ci, col, 4u);
        b[5] = load_b(row, ci, col, 5u);
        b[6] = load_b(row, ci, col, 6u);
        b[7] = load_b(row, ci, col, 7u);
    }
    return b;
}

@compute @workgroup_size(8)
fn conv(ids: Ids) {
    run(ids);
}
