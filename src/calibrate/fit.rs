//! Fitting the cost model to microbenchmark measurements.
//!
//! The cost model's time for one kernel of work `x` (FLOPs or bytes) at peak rate `R` with the saturating
//! efficiency curve `e(x) = e_max x / (x + x_half)` is `x / (R e(x)) = (x + x_half) / (R e_max)`: a straight
//! line `t = a + b x` with `b = 1 / (R e_max)` and `a = x_half / (R e_max)`. Adding the fixed per-kernel
//! overhead keeps it a line. So each family of microbenchmarks is fitted by a line, weighted so that every
//! point's *relative* error counts the same (small kernels matter as much as large ones), and the line is
//! turned back into the hardware description's fields.

use serde::Serialize;

/// `t = intercept + slope x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Line {
    pub intercept: f64,
    pub slope: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Fits `t = a + b x` minimizing the sum of squared relative errors `((a + b x - t) / t)^2`, with `a >= 0`
/// and `b >= 0`. `None` with fewer than two distinct `x` or non-positive times.
pub fn fit_line(points: &[(f64, f64)]) -> Option<Line> {
    let distinct = points.iter().map(|p| p.0.to_bits()).collect::<std::collections::HashSet<_>>().len();
    if distinct < 2 {
        return None;
    }
    let rows: Vec<([f64; 2], f64)> = points.iter().map(|&(x, t)| ([1.0, x], t)).collect();
    let [a, b] = fit_nonnegative(&rows)?;
    Some(Line { intercept: a, slope: b })
}

/// Fits `t = c · features` minimizing the sum of squared relative errors `((c · f - t) / t)^2` subject to
/// every `c >= 0`: a time is a sum of non-negative costs (a fixed part, a part per FLOP, a part per byte),
/// and every point's relative error counts the same, so that small kernels matter as much as large ones.
/// Solved exactly by trying every subset of the coefficients free (the rest held at zero) and keeping the
/// best feasible one (D is 2 or 3 here, so 3 or 7 small systems). `None` when a time is not positive or
/// finite, or no subset has a solution.
pub fn fit_nonnegative<const D: usize>(rows: &[([f64; D], f64)]) -> Option<[f64; D]> {
    fit_nonnegative_with(rows, &[])
}

/// [`fit_nonnegative`] over the subsets that keep the `required` coefficients free: a GEMM's time has a
/// cost per FLOP even where a few small shapes would fit a plane without one.
pub fn fit_nonnegative_with<const D: usize>(rows: &[([f64; D], f64)], required: &[usize]) -> Option<[f64; D]> {
    if rows.is_empty() || rows.iter().any(|(f, t)| !(t.is_finite() && *t > 0.0) || f.iter().any(|x| !x.is_finite())) {
        return None;
    }
    let mut best: Option<([f64; D], f64)> = None;
    for mask in 1u32..(1 << D) {
        if required.iter().any(|&j| mask & (1 << j) == 0) {
            continue;
        }
        let free: Vec<usize> = (0..D).filter(|&j| mask & (1 << j) != 0).collect();
        let Some(sol) = solve_weighted(rows, &free) else { continue };
        if sol.iter().any(|&c| c < 0.0) {
            continue;
        }
        let mut c = [0.0; D];
        for (&j, &x) in free.iter().zip(&sol) {
            c[j] = x;
        }
        let err: f64 = rows.iter().map(|(f, t)| ((dot(f, &c) - t) / t).powi(2)).sum();
        if best.as_ref().is_none_or(|(_, e)| err < *e - 1e-15 * e.abs()) {
            best = Some((c, err));
        }
    }
    best.map(|(c, _)| c)
}

fn dot<const D: usize>(a: &[f64; D], b: &[f64; D]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Unconstrained weighted least squares (weights `1/t^2`) on the features in `free`: the normal equations,
/// solved by Gaussian elimination with partial pivoting. `None` when they are singular.
fn solve_weighted<const D: usize>(rows: &[([f64; D], f64)], free: &[usize]) -> Option<Vec<f64>> {
    let n = free.len();
    // Columns are scaled to unit size first: FLOP counts and constants differ by ten orders of magnitude.
    let scale: Vec<f64> = free.iter().map(|&j| rows.iter().map(|(f, _)| f[j].abs()).fold(0.0, f64::max)).collect();
    if scale.contains(&0.0) {
        return None;
    }
    let mut m = vec![vec![0.0; n + 1]; n];
    for (f, t) in rows {
        let w = 1.0 / (t * t);
        for r in 0..n {
            let fr = f[free[r]] / scale[r];
            for c in 0..n {
                m[r][c] += w * fr * f[free[c]] / scale[c];
            }
            m[r][n] += w * fr * t;
        }
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 * m.iter().map(|r| r[col].abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE) {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let k = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= k * p;
                }
            }
        }
    }
    Some((0..n).map(|r| m[r][n] / m[r][r] / scale[r]).collect())
}

/// Efficiency-curve fields from a fitted line, given the peak rate `rate` (FLOP/s or bytes/s) and the fixed
/// per-kernel overhead `overhead_s` already in the description: `(e_max, x_half)`. `e_max` is capped at 1
/// (a device faster than its declared peak gets the peak), in which case the line's slope is not reproduced
/// exactly; the caller raises the peak first to avoid that.
pub fn efficiency_from_line(line: &Line, rate: f64, overhead_s: f64) -> (f64, f64) {
    let e_max = if line.slope > 0.0 { (1.0 / (line.slope * rate)).min(1.0) } else { 1.0 };
    let per_unit = 1.0 / (rate * e_max);
    let x_half = ((line.intercept - overhead_s).max(0.0) / per_unit).max(0.0);
    (e_max, x_half)
}

/// Median of a sample (the robust figure of repeated timings).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_recovers_a_known_line_from_noisy_measurements() {
        // t = 20 us + x / (2 GFLOP/s), with +-3 % deterministic noise.
        let truth = Line { intercept: 20e-6, slope: 1.0 / 2e9 };
        let pts: Vec<(f64, f64)> = (0..24)
            .map(|i| {
                let x = 1e4 * 1.6f64.powi(i);
                let noise = 1.0 + 0.03 * ((i * 7 % 5) as f64 - 2.0) / 2.0;
                (x, truth.at(x) * noise)
            })
            .collect();
        let fit = fit_line(&pts).unwrap();
        assert!((fit.intercept / truth.intercept - 1.0).abs() < 0.05, "{fit:?}");
        assert!((fit.slope / truth.slope - 1.0).abs() < 0.05, "{fit:?}");
    }

    #[test]
    fn efficiency_fields_reproduce_the_line() {
        // Peak 10 GFLOP/s, e_max 0.4, half-saturation 2 MFLOP, overhead 5 us.
        let (rate, e, half, k) = (10e9, 0.4, 2e6, 5e-6);
        let line = Line { intercept: k + half / (rate * e), slope: 1.0 / (rate * e) };
        let (e2, half2) = efficiency_from_line(&line, rate, k);
        assert!((e2 - e).abs() < 1e-12 && (half2 - half).abs() < 1e-3);
        // The cost model's time with these fields equals the line.
        let x = 7e6;
        let model = k + x / (rate * e2 * x / (x + half2));
        assert!((model - line.at(x)).abs() < 1e-12);
    }

    #[test]
    fn a_plane_of_fixed_flop_and_byte_costs_is_recovered() {
        // t = 40 us + F / 8 GFLOP/s + B / 4 GB/s over a mix of compute- and memory-heavy shapes.
        let truth = [40e-6, 1.0 / 8e9, 1.0 / 4e9];
        let rows: Vec<([f64; 3], f64)> = (0..30)
            .map(|i| {
                let f = 1e5 * 2.1f64.powi(i % 10);
                let b = 4e3 * 3.3f64.powi(i % 7);
                let feats = [1.0, f, b];
                let noise = 1.0 + 0.02 * ((i * 5 % 7) as f64 - 3.0) / 3.0;
                (feats, dot(&feats, &truth) * noise)
            })
            .collect();
        let c = fit_nonnegative(&rows).unwrap();
        for j in 0..3 {
            assert!((c[j] / truth[j] - 1.0).abs() < 0.06, "coefficient {j}: {c:?}");
        }
        // A cost that does not exist comes out as zero, not negative.
        let flat: Vec<([f64; 3], f64)> = rows.iter().map(|(f, _)| (*f, 40e-6 + f[1] / 8e9)).collect();
        let c = fit_nonnegative(&flat).unwrap();
        assert!(c[2] >= 0.0 && c[2] < 1e-15, "{c:?}");
        assert!((c[1] * 8e9 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn constraints_and_degenerate_inputs() {
        // Points on t = 3x: no negative intercept.
        let f = fit_line(&[(1.0, 3.0), (2.0, 6.0), (4.0, 12.0)]).unwrap();
        assert!(f.intercept >= 0.0 && (f.slope - 3.0).abs() < 1e-9);
        assert!(fit_line(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
        assert!(fit_line(&[(1.0, 0.0), (2.0, 1.0)]).is_none());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn a_required_coefficient_stays_in_the_fit() {
        // Times that grow with bytes B exactly and with FLOPs F only through B (F = 2B, plus a wobble): the
        // free fit charges everything per byte, the fit that requires a per-FLOP cost keeps one.
        let rows: Vec<([f64; 3], f64)> = [1e3, 1e4, 1e5, 1e6]
            .iter()
            .enumerate()
            .map(|(i, &b)| ([1.0, 2.0 * b * (1.0 + 0.01 * i as f64), b], 1e-6 + b * 1e-9))
            .collect();
        let free = fit_nonnegative(&rows).unwrap();
        assert_eq!(free[1], 0.0, "{free:?}");
        let kept = fit_nonnegative_with(&rows, &[1]).unwrap();
        assert!(kept[1] > 0.0, "{kept:?}");
        // Either reproduces the times closely.
        for (f, t) in &rows {
            let at = |c: &[f64; 3]| f.iter().zip(c).map(|(x, k)| x * k).sum::<f64>();
            assert!((at(&kept) / t - 1.0).abs() < 0.05, "{kept:?}");
        }
    }
}
