// Unary elementwise functions, one element per invocation. FUNC selects the function (the numbering of
// `UnaryFn` in `unary.rs`); its parameters arrive as `x0`, `x1`. The math mirrors `UnaryFn::apply`.

struct Params {
    n: u32, x_off: u32, y_off: u32, _p0: u32,
    x0: f32, x1: f32, _p1: u32, _p2: u32,
}

override FUNC: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// erf by Abramowitz & Stegun 7.1.26, as the reference.
fn erf(v: f32) -> f32 {
    let s = sign(v);
    let a = abs(v);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
    return s * (1.0 - poly * exp(-a * a));
}

// tanh through exp of a non-positive argument: no overflow for large |v| (some drivers' tanh returns NaN).
fn tanh_safe(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// x^e as `powf` computes it: negative bases allowed for integral exponents (WGSL's pow is undefined for them).
fn pow_real(v: f32, e: f32) -> f32 {
    let m = pow(abs(v), e);
    let odd = (e == floor(e)) && (abs(e % 2.0) == 1.0);
    return select(m, -m, v < 0.0 && odd);
}

fn apply(v: f32) -> f32 {
    if (FUNC == 0u) { return max(v, 0.0); }                                    // relu
    if (FUNC == 1u) { return select(p.x0 * v, v, v >= 0.0); }                  // leaky_relu (x0 = slope)
    if (FUNC == 2u) { return 0.5 * v * (1.0 + erf(v * 0.70710678118654752)); } // gelu
    if (FUNC == 3u) {                                                           // gelu_tanh
        return 0.5 * v * (1.0 + tanh_safe(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    }
    if (FUNC == 4u) { return 1.0 / (1.0 + exp(-v)); }                          // sigmoid
    if (FUNC == 5u) { return tanh_safe(v); }                                    // tanh
    if (FUNC == 6u) { return v / (1.0 + exp(-v)); }                            // silu
    if (FUNC == 7u) { return exp(v); }                                          // exp
    if (FUNC == 8u) { return v * p.x0 + p.x1; }                                 // scale (factor, offset)
    if (FUNC == 9u) { return min(max(v, p.x0), p.x1); }                         // clamp (min, max)
    if (FUNC == 11u) { return log(v); }                                         // log
    if (FUNC == 12u) { return abs(v); }                                         // abs
    if (FUNC == 13u) { return pow_real(v, p.x0); }                              // pow (exponent)
    return select(0.0, v, v > p.x0 && v < p.x1);                                // keep_range (low, high)
}

@compute @workgroup_size(256)
fn main(ids: Ids) {
    let i = item(ids, 256u);
    if (i >= p.n) {
        return;
    }
    y[p.y_off + i] = apply(x[p.x_off + i]);
}
