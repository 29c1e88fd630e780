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
    if points.iter().any(|&(x, t)| t.is_nan() || t <= 0.0 || !x.is_finite()) {
        return None;
    }
    let distinct = points.iter().map(|p| p.0.to_bits()).collect::<std::collections::HashSet<_>>().len();
    if distinct < 2 {
        return None;
    }
    // Weighted least squares, weight 1/t^2: normal equations of [1, x] . [a, b] = t.
    let (mut s00, mut s01, mut s11, mut r0, mut r1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, t) in points {
        let w = 1.0 / (t * t);
        s00 += w;
        s01 += w * x;
        s11 += w * x * x;
        r0 += w * t;
        r1 += w * x * t;
    }
    let det = s00 * s11 - s01 * s01;
    let (mut a, mut b) = ((r0 * s11 - r1 * s01) / det, (s00 * r1 - s01 * r0) / det);
    // Constrained solutions: a line through the origin, or a constant.
    if a < 0.0 {
        a = 0.0;
        b = r1 / s11;
    }
    if b < 0.0 {
        b = 0.0;
        a = r0 / s00;
    }
    Some(Line { intercept: a, slope: b })
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
    fn constraints_and_degenerate_inputs() {
        // Points on t = 3x: no negative intercept.
        let f = fit_line(&[(1.0, 3.0), (2.0, 6.0), (4.0, 12.0)]).unwrap();
        assert!(f.intercept >= 0.0 && (f.slope - 3.0).abs() < 1e-9);
        assert!(fit_line(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
        assert!(fit_line(&[(1.0, 0.0), (2.0, 1.0)]).is_none());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
