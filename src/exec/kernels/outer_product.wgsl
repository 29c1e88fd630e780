// Tensor-fusion outer product: row r of `a [rows, m]` and of `b [rows, n]`, each optionally extended by a
// leading 1, give row r of the output `[rows, (m + ea) (n + eb)]` with a's index major. One output element
// per invocation.

struct Params {
    total: u32, m: u32, n: u32, ea: u32,
    eb: u32, a_off: u32, b_off: u32, y_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.total) {
        return;
    }
    let wa = p.m + p.ea;
    let wb = p.n + p.eb;
    let r = i / (wa * wb);
    let j = i % (wa * wb);
    let ia = j / wb;
    let ib = j % wb;
    var va = 1.0;
    if (ia >= p.ea) {
        va = a[p.a_off + r * p.m + ia - p.ea];
    }
    var vb = 1.0;
    if (ib >= p.eb) {
        vb = b[p.b_off + r * p.n + ib - p.eb];
    }
    y[p.y_off + i] = va * vb;
}
