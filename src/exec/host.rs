//! Host work, run for real: the CPU work outside the network that a workload declares (`host_work`: audio
//! features, JPEG decoding, tokenisation, a `.item()` that reads a GPU value).
//!
//! mmbench cannot run librosa or a JPEG decoder, so it runs a stand-in with the declared cost: a pass of
//! `x = a x + b` over a working set of the declared bytes, repeated until the declared FLOPs are spent, on the
//! declared number of threads. The executor first reads the op's inputs back from the GPU (the
//! synchronization the real code pays) and afterwards uploads its output, whose values are generated like an
//! input's (see [`super::data::source_values`]). What this measures is how long the declared amount of work
//! takes on this CPU, which is what the cost model predicts for it; whether the declared amounts match the
//! real libraries is a question about the workload file, not about the executor.

/// Working set used when the work declares no bytes: small enough to stay in the L1 cache.
pub const REGISTER_SET: usize = 1024;

/// How the stand-in covers `flops` over `elements` values: passes over the working set (at least one).
pub fn passes(flops: u64, elements: usize) -> u64 {
    // One pass costs 2 FLOPs (a multiply and an add) per element.
    flops.div_ceil(2 * elements.max(1) as u64).max(1)
}

/// Runs the stand-in over `scratch` (the working set, `bytes / 4` values) spending `flops` FLOPs on `threads`
/// threads. Returns a checksum, so that the work cannot be optimized away.
pub fn stand_in(scratch: &mut [f32], flops: u64, threads: usize) -> f32 {
    let threads = threads.clamp(1, scratch.len().max(1));
    let rounds = passes(flops, scratch.len());
    if threads == 1 {
        return sweep(scratch, rounds);
    }
    let chunk = scratch.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = scratch.chunks_mut(chunk).map(|c| s.spawn(move || sweep(c, rounds))).collect();
        handles.into_iter().map(|h| h.join().expect("host work thread does not panic")).sum()
    })
}

/// `rounds` passes of `x = a x + b` (a contraction, so values stay finite) over `xs`.
fn sweep(xs: &mut [f32], rounds: u64) -> f32 {
    let (a, b) = (std::hint::black_box(0.999f32), std::hint::black_box(0.001f32));
    for _ in 0..rounds {
        for x in xs.iter_mut() {
            *x = *x * a + b;
        }
        std::hint::black_box(&mut *xs);
    }
    xs.iter().step_by(64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_the_declared_flops() {
        assert_eq!(passes(0, 100), 1);
        assert_eq!(passes(200, 100), 1);
        assert_eq!(passes(201, 100), 2);
        assert_eq!(passes(1_000_000, REGISTER_SET), 489);
        assert_eq!(passes(10, 0), 5);
    }

    #[test]
    fn stand_in_runs_every_pass_on_every_thread() {
        // After r passes from 0: x_r = b (1 - a^r) / (1 - a) = 1 - 0.999^r, the same on every element.
        for threads in [1, 3] {
            let mut xs = vec![0.0f32; 1000];
            stand_in(&mut xs, 2 * 1000 * 50, threads);
            let want = 1.0 - 0.999f64.powi(50);
            assert!(xs.iter().all(|&x| (f64::from(x) - want).abs() < 1e-4), "{threads} threads: {}", xs[999]);
        }
    }
}
