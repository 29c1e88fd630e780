//! Drawing configurations from the axes: a full grid, or a seeded random or Latin-hypercube sample. The same
//! spec and seed give the same configurations in the same order, on every machine (ChaCha8 is portable).

use super::spec::{Axis, AxisValue, Domain, Sampling};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_yaml::Value;

/// The values of every axis for each configuration, in order (all of them at once: for tests and small
/// sweeps; a sweep itself reads them one at a time through [`Samples`]).
pub fn configurations(axes: &[Axis], sampling: Sampling) -> Vec<Vec<AxisValue>> {
    let s = Samples::new(axes, sampling);
    (0..s.len()).map(|i| s.get(i)).collect()
}

/// The sampled points of a spec, drawn on demand: a grid keeps only each axis's points and decodes a
/// configuration number in mixed radix; a random or Latin-hypercube sample keeps one column of fractions per
/// axis (8 bytes a sample; the spec caps samples at 10 million), never the values of every configuration.
pub struct Samples {
    axes: Vec<Domain>,
    kind: Kind,
}

enum Kind {
    /// Each axis's grid points.
    Grid(Vec<Vec<AxisValue>>),
    /// `columns[j][i]`: the fraction of axis j's range for sample i.
    Drawn { samples: usize, columns: Vec<Vec<f64>> },
}

impl Samples {
    pub fn new(axes: &[Axis], sampling: Sampling) -> Self {
        let domains: Vec<Domain> = axes.iter().map(|a| a.domain.clone()).collect();
        let kind = match sampling {
            Sampling::Grid => Kind::Grid(domains.iter().map(points).collect()),
            Sampling::Random { samples, seed } => {
                // Draws go sample by sample, axis by axis, so each column takes every `axes.len()`-th draw.
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut columns = vec![Vec::with_capacity(samples); domains.len()];
                for _ in 0..samples {
                    for c in columns.iter_mut() {
                        c.push(unit(&mut rng));
                    }
                }
                Kind::Drawn { samples, columns }
            }
            Sampling::LatinHypercube { samples, seed } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                // Per axis, one point in each of `samples` equal strata, strata shuffled independently per axis.
                let columns = domains
                    .iter()
                    .map(|_| {
                        let mut strata: Vec<usize> = (0..samples).collect();
                        for i in (1..samples).rev() {
                            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                            strata.swap(i, j);
                        }
                        strata.into_iter().map(|k| (k as f64 + unit(&mut rng)) / samples as f64).collect()
                    })
                    .collect();
                Kind::Drawn { samples, columns }
            }
        };
        Samples { axes: domains, kind }
    }

    /// How many points there are.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Grid(cols) => cols.iter().map(Vec::len).product(),
            Kind::Drawn { samples, .. } => *samples,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of every axis at point `i` (< `len()`).
    pub fn get(&self, i: usize) -> Vec<AxisValue> {
        match &self.kind {
            Kind::Grid(cols) => {
                // The first axis varies slowest.
                let mut k = i;
                let mut row = vec![AxisValue::Scale(1.0); cols.len()];
                for (j, c) in cols.iter().enumerate().rev() {
                    row[j] = c[k % c.len()].clone();
                    k /= c.len();
                }
                row
            }
            Kind::Drawn { columns, .. } => self.axes.iter().zip(columns).map(|(d, c)| at(d, c[i])).collect(),
        }
    }
}

/// A uniform number in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The grid points of one axis.
pub fn points(d: &Domain) -> Vec<AxisValue> {
    match d {
        Domain::List(v) => v.clone(),
        Domain::Linear { lo, hi, steps, integer } | Domain::Log { lo, hi, steps, integer } => {
            let n = steps.unwrap_or(1);
            let log = matches!(d, Domain::Log { .. });
            let mut out: Vec<AxisValue> = (0..n)
                .map(|i| {
                    let u = if n == 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
                    number(interpolate(*lo, *hi, u, log), *integer)
                })
                .collect();
            out.dedup();
            out
        }
    }
}

/// The value at fraction `u` of an axis (a list: its `floor(u * len)`-th item).
fn at(d: &Domain, u: f64) -> AxisValue {
    match d {
        Domain::List(v) => v[((u * v.len() as f64) as usize).min(v.len() - 1)].clone(),
        Domain::Linear { lo, hi, integer, .. } => number(interpolate(*lo, *hi, u, false), *integer),
        Domain::Log { lo, hi, integer, .. } => number(interpolate(*lo, *hi, u, true), *integer),
    }
}

fn interpolate(lo: f64, hi: f64, u: f64, log: bool) -> f64 {
    if u <= 0.0 {
        return lo;
    }
    if u >= 1.0 {
        return hi;
    }
    let x = if log { (lo.ln() + u * (hi.ln() - lo.ln())).exp() } else { lo + u * (hi - lo) };
    // 12 significant digits: grid points print as 1600, not 1599.9999999999984.
    let digits = 11 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits.clamp(-300, 300));
    (x * scale).round() / scale
}

fn number(x: f64, integer: bool) -> AxisValue {
    if integer { AxisValue::Set(Value::from(x.round() as i64)) } else { AxisValue::Set(Value::from(x)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(key: &str, domain: Domain) -> Axis {
        Axis { key: key.into(), domain }
    }

    fn nums(v: &[AxisValue]) -> Vec<f64> {
        v.iter().map(|x| if let AxisValue::Set(v) = x { v.as_f64().unwrap() } else { panic!() }).collect()
    }

    #[test]
    fn grid_is_the_cartesian_product_first_axis_slowest() {
        let axes = [
            axis("a", Domain::List(vec![AxisValue::Set(1.into()), AxisValue::Set(2.into())])),
            axis("b", Domain::Linear { lo: 0.0, hi: 1.0, steps: Some(3), integer: false }),
        ];
        let c = configurations(&axes, Sampling::Grid);
        assert_eq!(c.len(), 6);
        assert_eq!(nums(&c[0]), [1.0, 0.0]);
        assert_eq!(nums(&c[1]), [1.0, 0.5]);
        assert_eq!(nums(&c[5]), [2.0, 1.0]);
    }

    #[test]
    fn log_ranges_are_geometric() {
        let p = points(&Domain::Log { lo: 100.0, hi: 10_000.0, steps: Some(3), integer: false });
        let v = nums(&p);
        assert!((v[1] - 1000.0).abs() < 1e-9 && (v[2] - 10_000.0).abs() < 1e-9);
    }

    #[test]
    fn latin_hypercube_puts_one_point_in_each_stratum() {
        let axes = [axis("x", Domain::Linear { lo: 0.0, hi: 1.0, steps: None, integer: false })];
        let c = configurations(&axes, Sampling::LatinHypercube { samples: 50, seed: 3 });
        let mut strata: Vec<usize> = c.iter().map(|r| (nums(r)[0] * 50.0) as usize).collect();
        strata.sort_unstable();
        assert_eq!(strata, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn sampling_is_deterministic_and_seeded() {
        let axes = [axis("x", Domain::Log { lo: 1.0, hi: 1000.0, steps: None, integer: true })];
        let a = configurations(&axes, Sampling::Random { samples: 20, seed: 1 });
        let b = configurations(&axes, Sampling::Random { samples: 20, seed: 1 });
        let c = configurations(&axes, Sampling::Random { samples: 20, seed: 2 });
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(nums(&a.concat()).iter().all(|x| (1.0..=1000.0).contains(x) && x.fract() == 0.0));
    }
}
