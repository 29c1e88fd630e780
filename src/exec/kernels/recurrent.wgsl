// The pointwise half of one GRU or LSTM step (the GEMM half is `matmul.wgsl`), as the reference
// (`reference/recurrent.rs`) computes it. One invocation per batch row b and hidden unit j; LSTM selects
// the cell.
//
// x holds the projected input of this step (x · W_ih + b_ih, by the `linear` before the cells): gate q of
// row b at `x_off + b · x_bstride + q · H + j`. The hidden projection h · W_hh + b_hh was written by the GEMM
// into the output's own buffer past the output (`g_off`, rows `g_bstride` apart); without a previous state
// it is just b_hh, and h (and c) are zero.
//
// GRU (gates r, z, n): r = σ(x_r + g_r), z = σ(x_z + g_z), n = tanh(x_n + r · g_n), h' = (1 - z) · n + z · h.
// LSTM (gates i, f, g, o; state and output [B, 2, H], h then c): c' = σ(f) · c + σ(i) · tanh(g),
// h' = σ(o) · tanh(c').

struct Params {
    batch: u32, hidden: u32, has_state: u32, _p0: u32,
    x_off: u32, x_bstride: u32, s_off: u32, y_off: u32,
    g_off: u32, g_bstride: u32, bias_off: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// The output, and past it the GEMM's h · W_hh + b_hh (read here, so bound once, read-write).
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// tanh through exp of a non-positive argument: no overflow for large |v| (some drivers' tanh returns NaN).
fn tanh_safe(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// Gate q's input part and hidden part for (b, j).
fn gate(b: u32, j: u32, q: u32) -> vec2<f32> {
    let col = q * p.hidden + j;
    let xq = x[p.x_off + b * p.x_bstride + col];
    if (p.has_state == 0u) {
        return vec2<f32>(xq, bias[p.bias_off + col]);
    }
    return vec2<f32>(xq, y[p.g_off + b * p.g_bstride + col]);
}

fn gru(b: u32, j: u32) {
    let gr = gate(b, j, 0u);
    let gz = gate(b, j, 1u);
    let gn = gate(b, j, 2u);
    let r = sigmoid(gr.x + gr.y);
    let z = sigmoid(gz.x + gz.y);
    let n = tanh_safe(gn.x + r * gn.y);
    var h = 0.0;
    if (p.has_state != 0u) {
        h = state[p.s_off + b * p.hidden + j];
    }
    y[p.y_off + b * p.hidden + j] = (1.0 - z) * n + z * h;
}

fn lstm(b: u32, j: u32) {
    let gi = gate(b, j, 0u);
    let gf = gate(b, j, 1u);
    let gg = gate(b, j, 2u);
    let go = gate(b, j, 3u);
    // h of row b at [b, 0, j], c at [b, 1, j].
    let at = b * 2u * p.hidden + j;
    var c = 0.0;
    if (p.has_state != 0u) {
        c = state[p.s_off + at + p.hidden];
    }
    let c_new = sigmoid(gf.x + gf.y) * c + sigmoid(gi.x + gi.y) * tanh_safe(gg.x + gg.y);
    y[p.y_off + at] = sigmoid(go.x + go.y) * tanh_safe(c_new);
    y[p.y_off + at + p.hidden] = c_new;
}

override LSTM: bool = false;

@compute @workgroup_size(64)
fn main(ids: Ids) {
    let i = item(ids, 64u);
    if (i >= p.batch * p.hidden) {
        return;
    }
    if (LSTM) {
        lstm(i / p.hidden, i % p.hidden);
    } else {
        gru(i / p.hidden, i % p.hidden);
    }
}
