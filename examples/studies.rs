//! Runs the example design-space studies of `examples/studies/*.yaml` through the sweep API and writes each
//! one's results (`results.csv`) and plot (`plot.svg`) into `examples/studies/<name>/`:
//!
//! ```sh
//! cargo run --release --example studies
//! ```

use mmbench::report::plots::{grouped_bars_svg, line_svg, Axes, Series};
use mmbench::report::write_atomic;
use mmbench::sweep::{self, Row, SweepSpec, Value};
use std::error::Error;
use std::path::Path;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/studies");
    for name in ["bandwidth-x-batch", "edge-offload", "link-split"] {
        let spec = SweepSpec::load(dir.join(format!("{name}.yaml")).to_str().unwrap())?;
        let rows = sweep::run(&spec, &sweep::configurations(&spec), &|_| {})?;
        let out = dir.join(name);
        std::fs::create_dir_all(&out)?;
        write_atomic(&out.join("results.csv"), sweep::to_csv(&spec, &rows, true)?.as_bytes())?;
        let svg = match name {
            "bandwidth-x-batch" => bandwidth_plot(&spec, &rows)?,
            "edge-offload" => offload_plot(&spec, &rows)?,
            _ => link_plot(&spec, &rows)?,
        };
        write_atomic(&out.join("plot.svg"), svg.as_bytes())?;
        println!("{name}: {} configurations -> {}", rows.len(), out.display());
    }
    Ok(())
}

/// The value of a metric column, by name.
fn metric(spec: &SweepSpec, r: &Row, name: &str) -> f64 {
    let i = spec.metrics.iter().position(|m| m.name() == name).expect("recorded metric");
    match r.metrics[i] {
        Value::Num(x) => x,
        _ => f64::NAN,
    }
}

/// The value of an axis, by key.
fn axis<'a>(spec: &SweepSpec, r: &'a Row, key: &str) -> &'a str {
    &r.values[spec.axes.iter().position(|a| a.key == key).expect("axis")]
}

/// Speed-up over the slowest bandwidth, per workload and batch, against bandwidth.
fn bandwidth_plot(spec: &SweepSpec, rows: &[Row]) -> Result<String, Box<dyn Error>> {
    let mut series: Vec<Series> = Vec::new();
    for w in &spec.workloads {
        for b in ["1", "2", "4", "8"] {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| &r.workload == w && axis(spec, r, "batch") == b)
                .map(|r| (axis(spec, r, "gpu.mem_bw_gbs").parse::<f64>().unwrap(), metric(spec, r, "latency_ms")))
                .collect();
            let base = pts.first().map_or(1.0, |p| p.1);
            series.push(Series { name: format!("{w} batch {b}"), points: pts.iter().map(|&(x, y)| (x, base / y)).collect() });
        }
    }
    let axes = Axes { title: "H100: speed-up from memory bandwidth".into(), x_label: "HBM bandwidth (GB/s)".into(), y_label: "speed-up over 800 GB/s".into(), log_x: true, log_y: false };
    Ok(line_svg(&axes, &series)?)
}

/// Latency with no branch or one branch on the CPU, per runtime.
fn offload_plot(spec: &SweepSpec, rows: &[Row]) -> Result<String, Box<dyn Error>> {
    let branches: Vec<&str> = spec.axes.iter().map(|a| a.key.trim_start_matches("place.")).collect();
    let mut categories = vec!["all on GPU".to_string()];
    categories.extend(branches.iter().map(|b| format!("{b} on CPU")));
    let mut names = Vec::new();
    let mut values = Vec::new();
    for rt in ["eager", "eager_streams"] {
        let mut v = Vec::new();
        for cat in 0..categories.len() {
            // Exactly the branch of this category (none for the first) on the CPU.
            let r = rows
                .iter()
                .find(|r| r.runtime == rt && r.values.iter().enumerate().all(|(i, x)| (x == "cpu") == (cat > 0 && i == cat - 1)))
                .expect("grid row");
            v.push(metric(spec, r, "latency_ms"));
        }
        names.push(rt.to_string());
        values.push(v);
    }
    let axes = Axes { title: "Jetson AGX Orin, Vision & Touch: offloading one encoder to the CPU".into(), x_label: String::new(), y_label: "latency (ms)".into(), ..Default::default() };
    Ok(grouped_bars_svg(&axes, &categories, &names, &values)?)
}

/// Latency against link bandwidth, per hardware and BERT placement.
fn link_plot(spec: &SweepSpec, rows: &[Row]) -> Result<String, Box<dyn Error>> {
    let mut series = Vec::new();
    for hw in &spec.hardware {
        for place in ["cpu", "gpu"] {
            let pts = rows
                .iter()
                .filter(|r| &r.hardware == hw && axis(spec, r, "place.text") == place)
                .map(|r| (axis(spec, r, "links[0].bw_gbs").parse::<f64>().unwrap(), metric(spec, r, "latency_ms")))
                .collect();
            series.push(Series { name: format!("{hw}, BERT on {place}"), points: pts });
        }
    }
    let axes = Axes { title: "Sarcasm: splitting branches across host and GPU".into(), x_label: "host link bandwidth (GB/s)".into(), y_label: "latency (ms)".into(), log_x: true, log_y: false };
    Ok(line_svg(&axes, &series)?)
}
