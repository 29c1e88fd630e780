//! Times building a hardware description with overrides (used to tune sweeps):
//! `cargo run --release --example hw_build`.
use mmbench::hardware::HardwareSource;
use mmbench::yaml::parse_set;
fn main() {
    let src = HardwareSource::open("a100").unwrap();
    let n = 5000;
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let sets = vec![parse_set(&format!("gpu.mem_bw_gbs={}", 400 + i)).unwrap()];
        std::hint::black_box(src.build(&sets).unwrap());
    }
    println!("{:.1} us per build", t0.elapsed().as_secs_f64() / n as f64 * 1e6);
}
