//! Sweeps: shards partition the work exactly, the same spec gives byte-identical output, and bad specs are
//! refused before any work starts.

mod common;
use common::{assert_clean_failure, mmbench, temp_file};

const SPEC: &str = "\
name: small
workloads: [av-mnist, cmu-mosei]
hardware: [a100, jetson-agx-orin]
axes:
  batch: [1, 8]
  gpu.mem_bw_gbs: {scale: [0.5, 1, 2]}
  place.audio: [gpu, cpu]
metrics: [latency_ms, throughput_sps, sync_wait_ms, tdp_w, slowest_encoder]
pareto: {minimize: [latency_ms, tdp_w]}
";

fn sweep(spec_path: &str, extra: &[&str]) -> String {
    let mut args = vec!["sweep", spec_path];
    args.extend_from_slice(extra);
    let (code, out, err) = mmbench(&args);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn the_same_spec_gives_byte_identical_output() {
    let p = temp_file("sweep-det", "s.yaml", SPEC);
    let p = p.to_str().unwrap();
    let a = sweep(p, &[]);
    let b = sweep(p, &["--threads", "1"]);
    assert_eq!(a, b);
    // 2 workloads x 2 hardware x 2 batches x 3 bandwidths x 2 placements + header.
    assert_eq!(a.lines().count(), 2 * 2 * 2 * 3 * 2 + 1);
    assert!(a.lines().next().unwrap().starts_with("index,workload,hardware,runtime,batch,gpu.mem_bw_gbs,place.audio,latency_ms"));
    // Rows come in configuration order.
    let idx: Vec<usize> = a.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(idx, (0..48).collect::<Vec<_>>());
}

#[test]
fn shards_partition_the_sweep_exactly() {
    let p = temp_file("sweep-shard", "s.yaml", SPEC);
    let p = p.to_str().unwrap();
    let whole = sweep(p, &[]);
    for n in [2usize, 5, 7] {
        let parts: Vec<String> = (0..n).map(|i| sweep(p, &["--shard", &format!("{i}/{n}")])).collect();
        assert_eq!(parts.concat(), whole, "{n} shards");
    }
}

#[test]
fn sampled_sweeps_are_seeded_and_pareto_fronts_are_written() {
    let spec = "\
name: lhs
workloads: [av-mnist]
hardware: a100
axes:
  gpu.mem_bw_gbs: {log_range: [200, 8000]}
  gpu.peak_tflops.fp32: {range: [5, 80]}
  batch: {range: [1, 256], integer: true}
sample: {latin_hypercube: 40, seed: 11}
pareto: {minimize: [latency_ms], maximize: [throughput_sps]}
";
    let p = temp_file("sweep-lhs", "s.yaml", spec);
    let front = p.with_file_name("front.csv");
    let a = sweep(p.to_str().unwrap(), &["--pareto", front.to_str().unwrap()]);
    let b = sweep(p.to_str().unwrap(), &[]);
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 41);
    let f = std::fs::read_to_string(&front).unwrap();
    let n = f.lines().count() - 1;
    assert!((1..40).contains(&n), "front has {n} rows");
    // `mmbench pareto` on the sweep's CSV finds the same front.
    let csv_path = p.with_file_name("all.csv");
    std::fs::write(&csv_path, &a).unwrap();
    let (code, out, err) = mmbench(&["pareto", csv_path.to_str().unwrap(), "--minimize", "latency_ms", "--maximize", "throughput_sps"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, f);
}

#[test]
fn invalid_values_are_recorded_not_fatal() {
    let spec = "\
name: bad-values
workloads: [av-mnist]
hardware: a100
axes:
  gpu.mem_bw_gbs: [1000, -5]
";
    let p = temp_file("sweep-badval", "s.yaml", spec);
    let out = sweep(p.to_str().unwrap(), &[]);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(rows[0].ends_with(','), "{}", rows[0]);
    assert!(rows[1].contains("must be a positive number"), "{}", rows[1]);
}

#[test]
fn bad_specs_are_refused_before_any_work() {
    let cases = [
        ("unknown-field", SPEC.replace("metrics:", "metrix:"), "unknown field `metrix`"),
        ("empty-axis", SPEC.replace("batch: [1, 8]", "batch: []"), "the axis is empty"),
        ("inverted", SPEC.replace("{scale: [0.5, 1, 2]}", "{range: [2000, 100], steps: 3}"), "inverted range: 2000 > 100"),
        ("no-steps", SPEC.replace("{scale: [0.5, 1, 2]}", "{range: [100, 2000]}"), "needs `steps`"),
        ("bad-metric", SPEC.replace("tdp_w, slowest", "tdpw, slowest"), "unknown metric `tdpw`"),
        ("bad-pareto", SPEC.replace("minimize: [latency_ms, tdp_w]", "minimize: [latency_ms]"), "at least two objectives"),
        ("unknown-workload", SPEC.replace("av-mnist,", "av-mnistt,"), "unknown workload `av-mnistt`"),
        ("unknown-hardware", SPEC.replace("a100,", "a1000,"), "unknown hardware `a1000`"),
    ];
    for (name, text, want) in cases {
        let p = temp_file("sweep-bad", &format!("{name}.yaml"), &text);
        let (code, out, err) = mmbench(&["sweep", p.to_str().unwrap()]);
        assert_clean_failure(code, &out, &err);
        assert!(err.contains(want), "{name}: {err}");
    }
    let (code, out, err) = mmbench(&["sweep", "no/such/spec.yaml"]);
    assert_clean_failure(code, &out, &err);
    let p = temp_file("sweep-bad", "ok.yaml", SPEC);
    let (code, out, err) = mmbench(&["sweep", p.to_str().unwrap(), "--shard", "3/3"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("0 <= I < N"), "{err}");
}

/// The streamed CLI output (chunks written as they finish) is byte for byte the old whole-CSV path: every
/// configuration built up front, evaluated at once, formatted by `to_csv`; for the whole sweep, to `--out`,
/// and for two shards concatenated. The spec spans several chunks.
#[test]
fn streamed_output_is_byte_identical_to_the_whole_csv() {
    use mmbench::sweep::{self, SweepSpec};
    let text = "\
name: chunks
workloads: [av-mnist, cmu-mosei]
hardware: [a100]
axes:
  batch: [1, 8]
  gpu.mem_bw_gbs: {log_range: [200, 8000], steps: 1100}
  place.audio: [gpu, cpu]
metrics: [latency_ms, throughput_sps, tdp_w, slowest_encoder]
";
    let spec = SweepSpec::parse("chunks.yaml", text).unwrap();
    let configs = sweep::configurations(&spec);
    assert!(configs.len() > 2 * sweep::CHUNK, "{} configurations", configs.len());
    let rows = sweep::run(&spec, &configs, &|_| {}).unwrap();
    let whole = sweep::to_csv(&spec, &rows, true).unwrap();
    let p = temp_file("sweep-stream", "s.yaml", text);
    let out = p.with_file_name("out.csv");
    let stdout = sweep(p.to_str().unwrap(), &["--out", out.to_str().unwrap()]);
    assert!(stdout.is_empty());
    assert!(std::fs::read_to_string(&out).unwrap() == whole, "--out differs from the whole CSV");
    let parts: Vec<String> = (0..2).map(|i| sweep(p.to_str().unwrap(), &["--shard", &format!("{i}/2")])).collect();
    assert!(parts.concat() == whole, "two shards differ from the whole CSV");
    // No temporary file is left beside the output.
    let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(".tmp")).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A failed write leaves nothing behind: no output, no temporary file.
#[test]
fn a_failed_output_leaves_no_file() {
    let p = temp_file("sweep-nodir", "s.yaml", SPEC);
    let out = p.with_file_name("no-such-dir").join("out.csv");
    let (code, stdout, err) = mmbench(&["sweep", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_clean_failure(code, &stdout, &err);
    assert!(!out.exists());
}

/// The Pareto front kept chunk by chunk is the front of the whole CSV (as `mmbench pareto` finds it), on a
/// sweep of several chunks.
#[test]
fn pareto_fronts_of_streamed_sweeps_match_the_whole_csv() {
    let spec = "\
name: front
workloads: [av-mnist, cmu-mosei]
hardware: a100
axes:
  gpu.mem_bw_gbs: {log_range: [200, 8000]}
  gpu.peak_tflops.fp32: {range: [5, 80]}
  batch: {range: [1, 256], integer: true}
sample: {random: 5000, seed: 3}
metrics: [latency_ms, throughput_sps]
pareto: {minimize: [latency_ms], maximize: [throughput_sps]}
";
    let p = temp_file("sweep-front", "s.yaml", spec);
    let front = p.with_file_name("front.csv");
    let all = p.with_file_name("all.csv");
    sweep(p.to_str().unwrap(), &["--pareto", front.to_str().unwrap(), "--out", all.to_str().unwrap()]);
    let (code, out, err) = mmbench(&["pareto", all.to_str().unwrap(), "--minimize", "latency_ms", "--maximize", "throughput_sps"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, std::fs::read_to_string(&front).unwrap());
    assert!(out.lines().count() > 2);
}

/// A large grid streams to `--out` in bounded memory: 256,000 AV-MNIST configurations.
#[test]
fn a_large_grid_streams_to_a_file() {
    let spec = "\
name: large
workloads: [av-mnist]
hardware: [rtx4090]
axes:
  batch: {range: [1, 64], steps: 64, integer: true}
  devices.gpu.mem_bw_gbs: {log_range: [100, 10000], steps: 4000}
metrics: [latency_ms]
";
    let p = temp_file("sweep-large", "s.yaml", spec);
    let out = p.with_file_name("out.csv");
    let (code, stdout, err) = mmbench(&["sweep", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 256_000 + 1);
    assert!(text.lines().last().unwrap().starts_with("255999,av-mnist,rtx4090,eager,64,10000"), "{}", text.lines().last().unwrap());
    assert!(!err.contains("could not be evaluated"), "{err}");
}
