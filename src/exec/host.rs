//! Host work, run for real: the CPU work outside the network that a workload declares (`host_work`: audio
//! features, JPEG decoding, tokenisation, a `.item()` that reads a GPU value).
//!
//! mmbench cannot run librosa or a JPEG decoder, so it runs a stand-in with the declared cost, as the cost
//! model counts it: one pass of `x = a x + b` over a working set of the declared bytes (each byte moved once),
//! then the FLOPs left over spent on a block that stays in the L1 cache, on the declared number of threads.
//! (Repeating passes over the whole working set instead would move the declared bytes many times over: a
//! 40 MB, 270 MFLOP stand-in took three times what its declaration costs.) The executor first reads the op's
//! inputs back from the GPU (the synchronization the real code pays) and afterwards uploads its output, whose
//! values are generated like an input's (see [`super::data::source_values`]). What this measures is how long
//! the declared amount of work takes on this CPU, which is what the cost model predicts for it; whether the
//! declared amounts match the real libraries is a question about the workload file, not about the executor.

/// Working set used when the work declares no bytes, and the block the FLOPs beyond the streaming pass are
/// spent on: small enough to stay in the L1 cache.
pub const REGISTER_SET: usize = 1024;

/// How the stand-in covers `flops` over `elements` values: one streaming pass over all of them, then passes
/// over a block of at most [`REGISTER_SET`] values until the FLOPs are spent. Returns (block size, block passes).
pub fn passes(flops: u64, elements: usize) -> (usize, u64) {
    let block = elements.clamp(1, REGISTER_SET);
    // One pass costs 2 FLOPs (a multiply and an add) per element.
    let rest = flops.saturating_sub(2 * elements as u64);
    (block, rest.div_ceil(2 * block as u64))
}

/// Runs the stand-in over `scratch` (the working set, `bytes / 4` values) spending `flops` FLOPs on `threads`
/// threads, each streaming its share of the working set once and spending its share of the remaining FLOPs
/// on the start of that share. Returns a checksum, so that the work cannot be optimized away.
pub fn stand_in(scratch: &mut [f32], flops: u64, threads: usize) -> f32 {
    let threads = threads.clamp(1, scratch.len().max(1));
    if threads == 1 {
        return work(scratch, flops);
    }
    let chunk = scratch.len().div_ceil(threads);
    let share = flops.div_ceil(threads as u64);
    std::thread::scope(|s| {
        let handles: Vec<_> = scratch.chunks_mut(chunk).map(|c| s.spawn(move || work(c, share))).collect();
        handles.into_iter().map(|h| h.join().expect("host work thread does not panic")).sum()
    })
}

/// One thread's share: a streaming pass over `xs`, then the rest of `flops` on a cache-resident block of it.
fn work(xs: &mut [f32], flops: u64) -> f32 {
    let (block, rounds) = passes(flops, xs.len());
    sweep(xs, 1);
    let n = block.min(xs.len());
    sweep(&mut xs[..n], rounds);
    xs.iter().step_by(64).sum()
}

/// `rounds` passes of `x = a x + b` (a contraction, so values stay finite) over `xs`.
fn sweep(xs: &mut [f32], rounds: u64) {
    let (a, b) = (std::hint::black_box(0.999f32), std::hint::black_box(0.001f32));
    for _ in 0..rounds {
        for x in xs.iter_mut() {
            *x = *x * a + b;
        }
        std::hint::black_box(&mut *xs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_the_declared_flops_and_stream_the_bytes_once() {
        // Nothing beyond the streaming pass.
        assert_eq!(passes(0, 100), (100, 0));
        assert_eq!(passes(200, 100), (100, 0));
        // One FLOP more takes one more pass over the block.
        assert_eq!(passes(201, 100), (100, 1));
        assert_eq!(passes(1_000_000, REGISTER_SET), (REGISTER_SET, 488));
        // A large working set: streamed once (2e7 FLOPs), the other 2.5e8 on the 1024-value block.
        assert_eq!(passes(270_000_000, 10_000_000), (REGISTER_SET, 122_071));
        assert_eq!(passes(10, 0), (1, 5));
    }

    #[test]
    fn stand_in_runs_every_pass_on_every_thread() {
        // After r passes from 0: x_r = b (1 - a^r) / (1 - a) = 1 - 0.999^r. The block (the first 1024 values of
        // each thread's share) sees 1 + rounds passes, the rest of the share one.
        let after = |r: i32| 1.0 - 0.999f64.powi(r);
        for threads in [1, 2] {
            let mut xs = vec![0.0f32; 4096];
            let share = 4096 / threads;
            // Per thread: 2 x share for the stream, then 2 x 1024 x 50 on the block.
            stand_in(&mut xs, (threads * (2 * share + 2 * 1024 * 50)) as u64, threads);
            for t in 0..threads {
                let c = &xs[t * share..(t + 1) * share];
                assert!(c[..1024].iter().all(|&x| (f64::from(x) - after(51)).abs() < 1e-4), "{threads} threads: {}", c[0]);
                assert!(c[1024..].iter().all(|&x| (f64::from(x) - after(1)).abs() < 1e-6), "{threads} threads: {}", c[1024]);
            }
        }
    }
}
