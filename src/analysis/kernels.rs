//! Kernel sizes: how many kernels each stage launches and how many last under 10 µs, the figure MMBench used
//! to show that small multi-modal models are dominated by launch overhead (DESIGN.md, modeling notes).
//!
//! A trace records ops, and an op may launch several kernels (`OpRecord::kernels`). Without per-kernel times
//! an op of duration `d` and `k` kernels counts as `k` kernels of `d / k` each; a measured trace that records
//! one kernel per record gives exact figures. Only op records count (copies are not kernels).

use super::{in_scope, scopes};
use crate::graph::Stage;
use crate::trace::Trace;
use serde::Serialize;

/// A kernel shorter than this is "short" (MMBench's threshold).
pub const SHORT_KERNEL_S: f64 = 10e-6;

/// Kernel figures of one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelStats {
    /// The stage, or `None` for the whole inference.
    pub stage: Option<Stage>,
    pub kernels: u64,
    /// Kernels that last less than [`SHORT_KERNEL_S`].
    pub short_kernels: u64,
    /// `short_kernels` over `kernels`.
    pub short_share: f64,
    /// Busy time of all the kernels, and of the short ones.
    pub seconds: f64,
    pub short_seconds: f64,
    /// `seconds` over `kernels`.
    pub mean_kernel_s: f64,
}

/// Kernel figures per stage, then for the whole inference.
pub fn kernel_stats(t: &Trace) -> Vec<KernelStats> {
    scopes(t)
        .into_iter()
        .map(|scope| {
            let mut s = KernelStats { stage: scope, kernels: 0, short_kernels: 0, short_share: 0.0, seconds: 0.0, short_seconds: 0.0, mean_kernel_s: 0.0 };
            for r in t.ops.iter().filter(|r| r.is_kernel_work() && r.kernels > 0 && in_scope(scope, r.stage)) {
                let k = u64::from(r.kernels);
                let d = r.duration_s();
                s.kernels += k;
                s.seconds += d;
                if d / (k as f64) < SHORT_KERNEL_S {
                    s.short_kernels += k;
                    s.short_seconds += d;
                }
            }
            if s.kernels > 0 {
                s.short_share = s.short_kernels as f64 / s.kernels as f64;
                s.mean_kernel_s = s.seconds / s.kernels as f64;
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::*;
    use crate::graph::OpClass;

    #[test]
    fn kernels_of_a_multi_kernel_op_share_its_duration() {
        let k = |name: &str, stage: Stage, a_us: f64, b_us: f64, n: u32| work(op(name, stage, Some(0), 0, a_us / 1e3, b_us / 1e3, &[]), "x", OpClass::Elementwise, 0, 0, n);
        let t = trace(
            vec![
                k("short", Stage::Encoder, 0.0, 5.0, 1),        // 5 us: short
                k("three", Stage::Encoder, 5.0, 29.0, 3),       // 3 x 8 us: short
                k("eleven", Stage::Encoder, 29.0, 40.0, 1),     // 11 us: not short
                k("long", Stage::Head, 40.0, 140.0, 2),         // 2 x 50 us
            ],
            0.140,
        );
        let s = kernel_stats(&t);
        let scopes: Vec<Option<Stage>> = s.iter().map(|x| x.stage).collect();
        assert_eq!(scopes, [Some(Stage::Encoder), Some(Stage::Head), None]);
        assert_eq!((s[0].kernels, s[0].short_kernels), (5, 4));
        assert!(close(s[0].short_share, 0.8));
        assert!(close(s[0].short_seconds, 29e-6));
        assert_eq!((s[1].kernels, s[1].short_kernels), (2, 0));
        let all = &s[2];
        assert_eq!((all.kernels, all.short_kernels), (7, 4));
        assert!(close(all.short_share, 4.0 / 7.0));
        assert!(close(all.mean_kernel_s, 140e-6 / 7.0));
    }
}
