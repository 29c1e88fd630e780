//! How wrong a prediction is, over a set of (predicted, measured) pairs: mean absolute percentage error, worst
//! error, bias, Spearman rank correlation, and a 95 % confidence interval of the mean absolute error (Student's
//! t, from statrs).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Error statistics of a set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorStats {
    pub n: usize,
    /// Mean of |predicted − measured| / measured.
    pub mape: f64,
    /// The largest |predicted − measured| / measured, and the index of its pair.
    pub worst: f64,
    pub worst_index: usize,
    /// Mean of (predicted − measured) / measured: positive when predictions run high.
    pub bias: f64,
    /// Spearman rank correlation between predicted and measured (ties get average ranks).
    pub spearman: f64,
    /// 95 % confidence interval of the mean absolute percentage error (NaN with fewer than 2 pairs).
    pub mape_ci95: (f64, f64),
}

/// Relative error of one pair.
pub fn relative_error(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured
}

/// Statistics over pairs `(predicted, measured)`; `None` without pairs or with a non-positive measurement.
pub fn error_stats(pairs: &[(f64, f64)]) -> Option<ErrorStats> {
    if pairs.is_empty() || pairs.iter().any(|&(p, m)| (m.is_nan() || m <= 0.0) || !p.is_finite()) {
        return None;
    }
    let n = pairs.len();
    let rel: Vec<f64> = pairs.iter().map(|&(p, m)| relative_error(p, m)).collect();
    let abs: Vec<f64> = rel.iter().map(|e| e.abs()).collect();
    let mape = abs.iter().sum::<f64>() / n as f64;
    let (worst_index, worst) = abs.iter().copied().enumerate().fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    let bias = rel.iter().sum::<f64>() / n as f64;
    let pred: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let meas: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let spearman = pearson(&ranks(&pred), &ranks(&meas));
    let mape_ci95 = if n < 2 {
        (f64::NAN, f64::NAN)
    } else {
        let sd = (abs.iter().map(|e| (e - mape).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n >= 2").inverse_cdf(0.975);
        let half = t * sd / (n as f64).sqrt();
        (mape - half, mape + half)
    };
    Some(ErrorStats { n, mape, worst, worst_index, bias, spearman, mape_ci95 })
}

/// Ranks 1..n, ties sharing their average rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation (NaN when either side is constant).
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn statistics_match_a_hand_computed_table() {
        // predicted / measured: 11/10 (+10 %), 18/20 (-10 %), 33/30 (+10 %), 40/40 (0 %).
        let s = error_stats(&[(11.0, 10.0), (18.0, 20.0), (33.0, 30.0), (40.0, 40.0)]).unwrap();
        assert_eq!(s.n, 4);
        assert!(close(s.mape, 0.075));
        assert!(close(s.worst, 0.1) && s.worst_index == 0);
        assert!(close(s.bias, 0.025));
        // Ranks agree exactly: rho = 1.
        assert!(close(s.spearman, 1.0));
        // |errors| 0.1, 0.1, 0.1, 0: sd = 0.05; t(0.975, 3) = 3.182446305; half width 3.182446305 * 0.05 / 2.
        let half = 3.182446305284263 * 0.05 / 2.0;
        assert!((s.mape_ci95.0 - (0.075 - half)).abs() < 1e-9, "{:?}", s.mape_ci95);
        assert!((s.mape_ci95.1 - (0.075 + half)).abs() < 1e-9);
    }

    #[test]
    fn spearman_with_a_swap_and_ties() {
        // Measured order 1 2 3 4 5, predicted swaps the last two: rho = 1 - 6 * 2 / (5 * 24) = 0.9.
        let s = error_stats(&[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (5.0, 4.0), (4.0, 5.0)]).unwrap();
        assert!(close(s.spearman, 0.9));
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn empty_or_invalid_input_has_no_statistics() {
        assert!(error_stats(&[]).is_none());
        assert!(error_stats(&[(1.0, 0.0)]).is_none());
        assert!(error_stats(&[(f64::NAN, 1.0)]).is_none());
        assert!(error_stats(&[(2.0, 1.0)]).unwrap().mape_ci95.0.is_nan());
    }
}
