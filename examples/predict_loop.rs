//! Runs many predictions of one built-in workload, for profiling the predictor:
//! `cargo run --release --example predict_loop -- cmu-mosei 20000`.

use mmbench::graph::{load_workload, WorkloadOptions};
use mmbench::hardware::{load_hardware, DEFAULT_HARDWARE};
use mmbench::predict::{predict_latency, PredictOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "av-mnist".into());
    let reps: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let w = load_workload(&name, &WorkloadOptions::default())?;
    let hw = load_hardware(DEFAULT_HARDWARE, &[])?;
    let t0 = std::time::Instant::now();
    let mut total = 0.0;
    for _ in 0..reps {
        total += predict_latency(&w, &hw, &PredictOptions::default())?;
    }
    let per = t0.elapsed().as_secs_f64() / reps as f64;
    println!("{name}: {:.2} us per prediction (mean latency {:.3} ms)", per * 1e6, total / reps as f64 * 1e3);
    Ok(())
}
