//! Pareto fronts: the configurations no other configuration beats on every objective at once.

/// Marks the non-dominated points. `points[i][k]` is objective k of point i (`None` when missing: such a
/// point is never on the front); `maximize[k]` says whether larger is better. Ties are kept: two equal
/// points are both on the front.
pub fn front(points: &[Option<Vec<f64>>], maximize: &[bool]) -> Vec<bool> {
    let key = |p: &[f64]| -> Vec<f64> { p.iter().zip(maximize).map(|(&x, &max)| if max { -x } else { x }).collect() };
    let mut order: Vec<(usize, Vec<f64>)> = points.iter().enumerate().filter_map(|(i, p)| p.as_ref().map(|p| (i, key(p)))).collect();
    // In lexicographic order a point can only be dominated by points before it.
    order.sort_by(|a, b| a.1.iter().zip(&b.1).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal).then(a.0.cmp(&b.0)));
    let mut on_front = vec![false; points.len()];
    let mut kept: Vec<&Vec<f64>> = Vec::new();
    for (i, p) in &order {
        let dominated = kept.iter().any(|q| dominates(q, p));
        if !dominated {
            on_front[*i] = true;
            kept.push(p);
        }
    }
    on_front
}

/// `a` is at least as good everywhere and strictly better somewhere (all objectives minimized).
fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Marks the front within each group of rows (rows with equal `group` values are compared).
pub fn front_by_group(groups: &[String], points: &[Option<Vec<f64>>], maximize: &[bool]) -> Vec<bool> {
    let mut out = vec![false; points.len()];
    let mut names: Vec<&String> = groups.iter().collect();
    names.sort();
    names.dedup();
    for g in names {
        let idx: Vec<usize> = (0..points.len()).filter(|&i| &groups[i] == g).collect();
        let sub: Vec<Option<Vec<f64>>> = idx.iter().map(|&i| points[i].clone()).collect();
        for (k, on) in front(&sub, maximize).into_iter().enumerate() {
            out[idx[k]] = on;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_of_latency_and_power() {
        // (latency, power): (1, 10) and (2, 5) trade off; (3, 10) is dominated; (2, 5) twice are both kept.
        let p = vec![Some(vec![1.0, 10.0]), Some(vec![2.0, 5.0]), Some(vec![3.0, 10.0]), Some(vec![2.0, 5.0]), None];
        assert_eq!(front(&p, &[false, false]), [true, true, false, true, false]);
    }

    #[test]
    fn maximized_objectives_flip() {
        // Maximize throughput, minimize power: (10 sps, 5 W) beats (8 sps, 6 W).
        let p = vec![Some(vec![10.0, 5.0]), Some(vec![8.0, 6.0]), Some(vec![12.0, 9.0])];
        assert_eq!(front(&p, &[true, false]), [true, false, true]);
    }

    #[test]
    fn groups_are_compared_apart() {
        let g: Vec<String> = ["a", "b", "a"].iter().map(|s| s.to_string()).collect();
        let p = vec![Some(vec![1.0, 1.0]), Some(vec![5.0, 5.0]), Some(vec![2.0, 2.0])];
        assert_eq!(front_by_group(&g, &p, &[false, false]), [true, true, false]);
    }
}
