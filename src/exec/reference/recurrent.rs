//! Reference GRU and LSTM steps in f64, PyTorch's equations with the input projection already applied (the
//! cell's input is `x · W_ih + b_ih`): `weight_hh [H, G]`, `bias_hh [G]`, gates along G in PyTorch's order.
//!
//! GRU (r, z, n): r = σ(x_r + h·W_r + b_r), z = σ(x_z + h·W_z + b_z), n = tanh(x_n + r ∘ (h·W_n + b_n)),
//! h' = (1 - z) ∘ n + z ∘ h. LSTM (i, f, g, o): c' = σ(f) ∘ c + σ(i) ∘ tanh(g), h' = σ(o) ∘ tanh(c'); the LSTM
//! state is `[B, 2, H]`, h then c. A missing previous state is zeros.

use ndarray::{s, Array2, ArrayD, ArrayView2, Axis, Ix2, IxDyn};

/// The projected input of one step as `[B, G]`: the whole input, or step `t` of `[B, T, G]` (`[T, B, G]`
/// when time-major).
pub fn step_input(x: &ArrayD<f32>, step: Option<usize>, time_major: bool) -> ArrayView2<'_, f32> {
    let v = match step {
        None => x.view(),
        Some(t) => x.index_axis(Axis(if time_major { 0 } else { 1 }), t),
    };
    v.into_dimensionality::<Ix2>().expect("the projected input of a step is [B, G]")
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `x + h · w + b` per gate column in f64, `x`'s part and the hidden part apart: `([B, G], [B, G])`.
fn parts(x: ArrayView2<f32>, h: &Array2<f64>, w: &ArrayD<f32>, b: &ArrayD<f32>) -> (Array2<f64>, Array2<f64>) {
    let w = w.view().into_dimensionality::<Ix2>().expect("weight_hh is [H, G]").mapv(f64::from);
    let gh = h.dot(&w) + &b.mapv(f64::from).into_dimensionality::<ndarray::Ix1>().expect("bias_hh is [G]");
    (x.mapv(f64::from), gh)
}

/// One GRU step: `h [B, H]` (zeros when `None`) to the new `h [B, H]`.
pub fn gru_cell(x: ArrayView2<f32>, h: Option<&ArrayD<f32>>, hidden: usize, w: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    let batch = x.nrows();
    let h = match h {
        Some(h) => h.view().into_dimensionality::<Ix2>().expect("the GRU state is [B, H]").mapv(f64::from),
        None => Array2::zeros((batch, hidden)),
    };
    let (xp, gh) = parts(x, &h, w, b);
    let mut out = Array2::<f32>::zeros((batch, hidden));
    for bi in 0..batch {
        for j in 0..hidden {
            let (q0, q1, q2) = (j, hidden + j, 2 * hidden + j);
            let r = sigmoid(xp[[bi, q0]] + gh[[bi, q0]]);
            let z = sigmoid(xp[[bi, q1]] + gh[[bi, q1]]);
            let n = (xp[[bi, q2]] + r * gh[[bi, q2]]).tanh();
            out[[bi, j]] = ((1.0 - z) * n + z * h[[bi, j]]) as f32;
        }
    }
    out.into_dyn()
}

/// One LSTM step: the state `[B, 2, H]` (h then c; zeros when `None`) to the new state.
pub fn lstm_cell(x: ArrayView2<f32>, state: Option<&ArrayD<f32>>, hidden: usize, w: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
    let batch = x.nrows();
    let state = match state {
        Some(s) => s.mapv(f64::from),
        None => ArrayD::zeros(IxDyn(&[batch, 2, hidden])),
    };
    let h = state.slice(s![.., 0, ..]).to_owned();
    let (xp, gh) = parts(x, &h, w, b);
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[batch, 2, hidden]));
    for bi in 0..batch {
        for j in 0..hidden {
            let g = |q: usize| xp[[bi, q * hidden + j]] + gh[[bi, q * hidden + j]];
            let c = sigmoid(g(1)) * state[[bi, 1, j]] + sigmoid(g(0)) * g(2).tanh();
            out[[bi, 0, j]] = (sigmoid(g(3)) * c.tanh()) as f32;
            out[[bi, 1, j]] = c as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    fn sig(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    #[test]
    fn gru_step_by_hand() {
        // H = 1, B = 1: x = [x_r, x_z, x_n] = [0.5, -1, 2], h = 3, W_hh = [1, 2, -1], b_hh = [0, 0.5, 1].
        // g = h·W + b = [3, 6.5, -2]; r = σ(3.5), z = σ(5.5), n = tanh(2 - 2r), h' = (1 - z) n + 3z.
        let x = arr2(&[[0.5f32, -1.0, 2.0]]).into_dyn();
        let h = arr2(&[[3.0f32]]).into_dyn();
        let w = arr2(&[[1.0f32, 2.0, -1.0]]).into_dyn();
        let b = arr1(&[0.0f32, 0.5, 1.0]).into_dyn();
        let (r, z) = (sig(3.5), sig(5.5));
        let n = (2.0 - 2.0 * r).tanh();
        let want = (1.0 - z) * n + 3.0 * z;
        let got = gru_cell(step_input(&x, None, false), Some(&h), 1, &w, &b);
        assert!((f64::from(got[[0, 0]]) - want).abs() < 1e-6, "{got} vs {want}");
        // Without a state: g = b, h = 0, so h' = (1 - σ(-0.5)) tanh(2 + σ(0.5)).
        let want = (1.0 - sig(-0.5)) * (2.0 + sig(0.5)).tanh();
        let got = gru_cell(step_input(&x, None, false), None, 1, &w, &b);
        assert!((f64::from(got[[0, 0]]) - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn lstm_step_by_hand() {
        // H = 1, B = 1: x = [i, f, g, o] = [1, 0, -1, 2], h = 0.5, c = -2, W_hh = [2, 0, 2, -2], b_hh = 0.
        // Pre-activations [2, 0, 0, 1]: c' = σ(0)·(-2) + σ(2)·tanh(0) = -1, h' = σ(1) tanh(-1).
        let x = arr2(&[[1.0f32, 0.0, -1.0, 2.0]]).into_dyn();
        let state = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1]), vec![0.5f32, -2.0]).unwrap();
        let w = arr2(&[[2.0f32, 0.0, 2.0, -2.0]]).into_dyn();
        let b = arr1(&[0.0f32; 4]).into_dyn();
        let got = lstm_cell(step_input(&x, None, false), Some(&state), 1, &w, &b);
        assert!((got[[0, 1, 0]] + 1.0).abs() < 1e-6, "{got}");
        assert!((f64::from(got[[0, 0, 0]]) - sig(1.0) * (-1.0f64).tanh()).abs() < 1e-6, "{got}");
    }

    #[test]
    fn steps_read_their_time_slice() {
        // [B = 2, T = 3, G = 1] batch-first and [T = 3, B = 2, G = 1] time-major: step 1 is [1, 4] and [2, 3].
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3, 1]), vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(step_input(&x, Some(1), false).column(0).to_vec(), vec![1.0, 4.0]);
        let x = ArrayD::from_shape_vec(IxDyn(&[3, 2, 1]), vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(step_input(&x, Some(1), true).column(0).to_vec(), vec![2.0, 3.0]);
    }
}
