//! A small design-space sweep from Rust: AV-MNIST on an A100 whose bandwidth and FLOP/s are scaled, printed as
//! CSV with the Pareto-optimal rows (latency against TDP) marked.
//!
//! ```sh
//! cargo run --release --example sweep_api
//! ```

use mmbench::sweep::{self, pareto, SweepSpec, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = SweepSpec::parse(
        "inline.yaml",
        "name: api-example
workloads: [av-mnist]
hardware: [a100, h100]
axes:
  batch: [8, 40]
  gpu.mem_bw_gbs: {scale: [0.5, 1, 2]}
metrics: [latency_ms, throughput_sps, tdp_w]
",
    )?;
    let configs = sweep::configurations(&spec);
    let rows = sweep::run(&spec, &configs, &|_| {})?;
    // Pareto front per workload over (latency, TDP).
    let points: Vec<Option<Vec<f64>>> = rows
        .iter()
        .map(|r| match (&r.metrics[0], &r.metrics[2]) {
            (Value::Num(l), Value::Num(p)) => Some(vec![*l, *p]),
            _ => None,
        })
        .collect();
    let on_front = pareto::front(&points, &[false, false]);
    print!("{}", sweep::to_csv(&spec, &rows, true)?);
    for (r, on) in rows.iter().zip(on_front) {
        if on {
            println!("pareto-optimal: {} batch {} bandwidth {} -> {}", r.hardware, r.values[0], r.values[1], r.metrics[0].text());
        }
    }
    Ok(())
}
