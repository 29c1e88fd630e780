//! Wall-clock arithmetic on sets of time intervals, shared by the metrics that ask "how long was at least
//! one (or two) of these things going on": overlap between branches, time spent waiting at joins.

/// The intervals merged into disjoint ones, sorted by start (touching intervals merge; empty ones vanish).
pub fn merge(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.retain(|&(a, b)| b > a);
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Wall-clock time covered by at least one interval.
pub fn union_s(v: Vec<(f64, f64)>) -> f64 {
    merge(v).iter().map(|(a, b)| b - a).sum()
}

/// Time covered by at least `k` of the sets at once, and the most sets active at one instant. Each set is
/// merged first, so a set counts once however many of its own intervals overlap.
pub fn covered_by_at_least(sets: Vec<Vec<(f64, f64)>>, k: usize) -> (f64, usize) {
    let mut events: Vec<(f64, i32)> = Vec::new();
    for set in sets {
        for (a, b) in merge(set) {
            events.push((a, 1));
            events.push((b, -1));
        }
    }
    // At equal times, ends come first: intervals that only touch do not overlap.
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (mut active, mut most, mut covered, mut prev) = (0i32, 0usize, 0.0f64, 0.0f64);
    for (t, d) in events {
        if active as usize >= k {
            covered += t - prev;
        }
        active += d;
        most = most.max(active as usize);
        prev = t;
    }
    (covered, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_touching_intervals_merge() {
        assert_eq!(merge(vec![(2.0, 3.0), (0.0, 1.0), (0.5, 2.0), (5.0, 5.0)]), [(0.0, 3.0)]);
        assert_eq!(union_s(vec![(0.0, 1.0), (2.0, 4.0), (3.0, 5.0)]), 4.0);
    }

    #[test]
    fn coverage_counts_each_set_once() {
        // Set 0 overlaps itself on [1, 2], which alone is not two sets. Two sets: [1, 3] (0 and 1) and [3, 4]
        // (1 and 2).
        let sets = vec![vec![(0.0, 2.0), (1.0, 3.0)], vec![(1.0, 4.0)], vec![(3.0, 5.0)]];
        let (two, most) = covered_by_at_least(sets.clone(), 2);
        assert_eq!(two, 3.0);
        assert_eq!(most, 2);
        assert_eq!(covered_by_at_least(sets, 1).0, 5.0);
    }
}
