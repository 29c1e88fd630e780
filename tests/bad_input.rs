//! Bad input gets a clear error naming file, line and field or node, a non-zero exit, and never a panic.

mod common;
use common::{assert_clean_failure, mmbench, temp_file};

/// A small valid workload to mutate.
const GOOD: &str = "\
name: tiny
batch: 2
modalities:
  a:
    input: [1, 8, 8]
    encoder:
      - conv2d: {out: 4, kernel: 3, padding: 1}
      - relu
      - flatten
  b:
    input: [16]
    encoder:
      - linear: {out: 8}
fusion:
  - concat
head:
  - linear: {out: 2}
";

fn predict_file(test: &str, yaml: &str) -> (i32, String, String, String) {
    let p = temp_file(test, "w.yaml", yaml);
    let path = p.to_string_lossy().into_owned();
    let (code, out, err) = mmbench(&["predict", &path]);
    (code, out, err, path)
}

#[test]
fn the_good_workload_predicts() {
    let (code, out, err, _) = predict_file("good", GOOD);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("end-to-end latency"), "{out}");
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let bad = GOOD.replace("      - relu\n", "      - relu: [\n");
    let (code, out, err, path) = predict_file("malformed", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:")), "{err}");
    assert!(err.contains("malformed YAML"), "{err}");
}

#[test]
fn unknown_op_names_line_field_and_suggests() {
    let bad = GOOD.replace("      - relu\n", "      - reluu\n");
    let (code, out, err, path) = predict_file("unknown-op", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:8:")), "{err}");
    assert!(err.contains("modalities.a.encoder[1]"), "{err}");
    assert!(err.contains("unknown op or block `reluu`") && err.contains("did you mean `relu`"), "{err}");
}

#[test]
fn unknown_field_names_line_and_field() {
    let bad = GOOD.replace("kernel: 3", "kernal: 3");
    let (code, out, err, path) = predict_file("unknown-field", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:7:")), "{err}");
    assert!(err.contains("unknown field `kernal`"), "{err}");
    let bad_top = format!("{GOOD}colour: red\n");
    let (code, out, err, _) = predict_file("unknown-top", &bad_top);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn cycle_is_reported_with_its_nodes() {
    let yaml = "\
name: cyc
batch: 1
modalities:
  a:
    input: [4]
    encoder:
      - linear: {out: 4}
nodes:
  - name: x
    stage: fusion
    inputs: [a, y]
    add: {}
  - name: y
    stage: fusion
    inputs: [x]
    relu: {}
";
    let (code, out, err, path) = predict_file("cycle", yaml);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:9:")), "{err}");
    assert!(err.contains("cycle through x -> y"), "{err}");
}

#[test]
fn dangling_input_names_the_reference() {
    let bad = GOOD.replace("  - concat\n", "  - concat: {}\n    inputs: [a, c]\n");
    let (code, out, err, path) = predict_file("dangling", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:")), "{err}");
    assert!(err.contains("fusion[0].inputs[1]") && err.contains("input `c` names no item"), "{err}");
}

#[test]
fn shape_mismatch_names_the_node_and_shapes() {
    // Concat of [2, 256] and [2, 8] is fine; make branch b 3-D so the concat fails.
    let bad = GOOD.replace("    input: [16]", "    input: [3, 16]");
    let (code, out, err, path) = predict_file("shape", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:15:")), "{err}");
    assert!(err.contains("node `fusion/concat`") && err.contains("[2, 3, 8]"), "{err}");
}

#[test]
fn zero_or_negative_rates_name_the_field() {
    let p = temp_file("rates", "w.yaml", GOOD);
    let path = p.to_string_lossy().into_owned();
    for bad in ["gpu.mem_bw_gbs=0", "gpu.peak_tflops.fp32=-5", "eager.op_overhead_us=-1", "gpu.compute_units=0"] {
        let (code, out, err) = mmbench(&["predict", &path, "--set", bad]);
        assert_clean_failure(code, &out, &err);
        // The bad value comes from the override, so the error names the override.
        let field = bad.split('=').next().unwrap().replace("gpu.", "devices.gpu.").replace("eager.", "runtimes.eager.");
        assert!(err.contains(&format!("field `--set {field}`")), "{bad}: {err}");
    }
    // A hardware file with a negative bandwidth names its own line.
    let hw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hardware/a100.yaml")).unwrap().replacen("mem_bw_gbs: 1555", "mem_bw_gbs: -1555", 1);
    let hp = temp_file("rates", "hw.yaml", &hw);
    let hpath = hp.to_string_lossy().into_owned();
    let (code, out, err) = mmbench(&["predict", &path, "--hardware", &hpath]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{hpath}:")) && err.contains("devices.gpu.mem_bw_gbs"), "{err}");
}

#[test]
fn missing_files_and_unknown_names_are_explained() {
    let (code, out, err) = mmbench(&["predict", "no/such/file.yaml"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("cannot read no/such/file.yaml"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnistt"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown workload `av-mnistt`") && err.contains("av-mnist"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--hardware", "tpu9"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown hardware `tpu9`"), "{err}");
}

#[test]
fn absurd_sizes_are_refused() {
    let bad = GOOD.replace("batch: 2", "batch: 0");
    let (code, out, err, _) = predict_file("batch0", &bad);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("batch must be between"), "{err}");
    let huge = GOOD.replace("input: [16]", "input: [1000000000000]").replace("linear: {out: 8}", "linear: {out: 100000}");
    let (code, out, err, _) = predict_file("huge", &huge);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("more than any device holds"), "{err}");
}

#[test]
fn bad_overrides_and_placements_are_explained() {
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--set", "gpu.mem_bw_gbs"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("KEY=VALUE"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--place", "smell=cpu"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown branch to place `smell`") && err.contains("image, audio"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--place", "audio=tpu"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown device `tpu`"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--runtime", "jax"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown runtime `jax`") && err.contains("eager"), "{err}");
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--set", "variant=fast"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("unknown variant `fast`"), "{err}");
}

#[test]
fn out_file_is_written_whole_or_not_at_all() {
    let dir = std::env::temp_dir().join(format!("mmbench-test-{}-out", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = dir.join("p.json");
    let (code, _, err) = mmbench(&["predict", "av-mnist", "--format", "json", "--out", ok.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ok).unwrap()).unwrap();
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
    // A failing prediction leaves no file behind.
    let bad = dir.join("bad.json");
    let (code, _, _) = mmbench(&["predict", "av-mnist", "--hardware", "tpu9", "--out", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(!bad.exists());
}

// ---- Hostile input and the encodings users have (issue #16) ----

/// Runs mmbench under a 256 MiB address-space limit with extra environment variables; returns (exit code,
/// stdout, stderr, seconds). The limit makes "bounded memory" a failure, not a slow test, if it is broken.
fn mmbench_bounded(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String, f64) {
    let mut script = String::from("ulimit -v 262144; exec \"$0\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 1));
    }
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_mmbench")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t = std::time::Instant::now();
    let out = cmd.output().expect("run mmbench");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), t.elapsed().as_secs_f64())
}

/// A bad input ends cleanly, within 2 s and 256 MiB, with a message containing each of `says`.
fn assert_refused_quickly(args: &[&str], env: &[(&str, &str)], says: &[&str]) {
    let (code, out, err, secs) = mmbench_bounded(args, env);
    assert_clean_failure(code, &out, &err);
    assert!(secs < 2.0, "{args:?} took {secs:.2} s: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?}: expected `{s}` in: {err}");
    }
}

#[test]
fn a_file_that_never_ends_is_refused_at_the_input_limit() {
    assert_refused_quickly(&["info", "/dev/zero"], &[], &["/dev/zero", "input limit of 67108864 bytes", "MMBENCH_MAX_INPUT_BYTES"]);
    let p = temp_file("limit", "w.yaml", GOOD);
    let path = p.to_string_lossy().into_owned();
    assert_refused_quickly(&["predict", &path], &[("MMBENCH_MAX_INPUT_BYTES", "64")], &[&path, "input limit of 64 bytes"]);
    assert_refused_quickly(&["predict", &path], &[("MMBENCH_MAX_INPUT_BYTES", "lots")], &["MMBENCH_MAX_INPUT_BYTES=`lots`"]);
    let (code, _, err, _) = mmbench_bounded(&["predict", &path], &[("MMBENCH_MAX_INPUT_BYTES", "1000000")]);
    assert_eq!(code, 0, "a raised limit admits the file: {err}");
}

#[test]
fn deeply_nested_yaml_is_refused_in_milliseconds() {
    // 200 KB of flow lists inside each other: libyaml alone took 35 s to refuse this.
    let deep = format!("name: deep\nbatch: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = temp_file("deep", "w.yaml", &deep);
    let path = p.to_string_lossy().into_owned();
    assert_refused_quickly(&["predict", &path], &[], &[&format!("{path}:2:72"), "nest more than 64 levels"]);
    let hw = temp_file("deep", "hw.yaml", &deep);
    assert_refused_quickly(&["predict", "av-mnist", "--hardware", &hw.to_string_lossy()], &[], &["nest more than 64 levels"]);
}

#[test]
fn invalid_utf8_is_refused_with_its_byte_offset() {
    let dir = std::env::temp_dir().join(format!("mmbench-test-{}-utf8", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("w.yaml");
    let mut bytes = GOOD.as_bytes().to_vec();
    bytes.splice(6..6, [0xC3, 0x28]);
    std::fs::write(&p, bytes).unwrap();
    assert_refused_quickly(&["predict", &p.to_string_lossy()], &[], &[":1:7", "byte offset 6", "not UTF-8"]);
}

/// Text as a Windows editor saves it: a UTF-8 byte-order mark and CRLF line endings.
fn windows(text: &str) -> String {
    format!("\u{feff}{}", text.replace('\n', "\r\n"))
}

#[test]
fn inputs_saved_by_a_windows_editor_are_accepted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |rel: &str| std::fs::read_to_string(format!("{root}/{rel}")).unwrap();
    let run_ok = |args: &[&str]| {
        let (code, out, err) = mmbench(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    // A workload and a hardware description.
    let w = temp_file("windows", "w.yaml", &windows(GOOD));
    let hw = temp_file("windows", "hw.yaml", &windows(&read("hardware/rtx4090.yaml")));
    let (w, hw) = (w.to_string_lossy().into_owned(), hw.to_string_lossy().into_owned());
    assert!(run_ok(&["predict", &w, "--hardware", &hw]).contains("end-to-end latency"));
    // A sweep spec, and the CSV it writes read back by `pareto`.
    let spec = temp_file("windows", "s.yaml", &windows("name: s\nworkloads: [av-mnist]\nhardware: [rtx4090]\naxes:\n  batch: [1, 8]\nmetrics: [latency_ms, energy_mj]\n"));
    let csv = run_ok(&["sweep", &spec.to_string_lossy()]);
    let csv = temp_file("windows", "s.csv", &windows(&csv));
    assert!(run_ok(&["pareto", &csv.to_string_lossy(), "--minimize", "latency_ms,energy_mj"]).lines().count() >= 2);
    // A saved run and a raw calibration.
    let run = temp_file("windows", "run.json", &windows(&read("validation/gpu/runs-fp32/av-mnist-b1.json")));
    assert!(run_ok(&["validate", "av-mnist", "--hardware", "h100", "--batch", "1", "--measured-only", "--measured", &run.to_string_lossy()]).contains("MAPE"));
    let raw = temp_file("windows", "raw.json", &windows(&read("validation/gpu/calibration-fp32-raw.json")));
    assert!(run_ok(&["calibrate", "--from-raw", &raw.to_string_lossy()]).contains("gpu:"));
}

#[test]
fn a_sweep_too_large_to_hold_is_refused_naming_its_axes() {
    // 10^20 configurations: past what a 64-bit count holds (it panicked with a capacity overflow before).
    let axes = (0..4).map(|i| format!("  devices.gpu.peak_tflops.fp{}: {{range: [1, 2], steps: 100000}}\n", [32, 16, 8, 64][i])).collect::<String>();
    let spec = temp_file("sweep-huge", "s.yaml", &format!("name: huge\nworkloads: [av-mnist]\nhardware: [rtx4090]\naxes:\n{axes}metrics: [latency_ms]\n"));
    assert_refused_quickly(&["sweep", &spec.to_string_lossy()], &[], &["field `axes`", "1.000e20 configurations", "axes.devices.gpu.peak_tflops.fp32: 100000"]);
    // One axis of a trillion steps is refused as it stands, before its points are listed.
    let spec = temp_file("sweep-huge", "t.yaml", "name: t\nworkloads: [av-mnist]\nhardware: [rtx4090]\naxes:\n  batch: {range: [1, 64], steps: 1000000000000}\n");
    assert_refused_quickly(&["sweep", &spec.to_string_lossy()], &[], &["1000000000000 steps"]);
}

#[test]
fn parameters_in_a_cycle_are_named_and_chains_resolve() {
    let cyclic = GOOD.replace("batch: 2\n", "batch: 2\nparams:\n  side: \"${width} / 2\"\n  width: \"${side} * 2\"\n").replace("input: [16]", "input: [\"${side}\"]");
    let (code, out, err, path) = predict_file("param-cycle", &cyclic);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains(&format!("{path}:4:3")) && err.contains("field `params.side`"), "{err}");
    assert!(err.contains("cycle: `side` -> `width` -> `side`"), "{err}");
    // A chain without a cycle resolves: side = 8 * 2 = 16, the input GOOD had.
    let chained = GOOD.replace("batch: 2\n", "batch: 2\nparams:\n  side: \"${width} * 2\"\n  width: 8\n").replace("input: [16]", "input: [\"${side}\"]");
    let (code, _, err, _) = predict_file("param-chain", &chained);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_field_of_several_forms_says_which_it_accepts() {
    let (code, out, err, _) = predict_file("untagged-input", &GOOD.replace("input: [16]", "input: [16, -1]"));
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("field `modalities.b.input`") && err.contains("`[1, 28, 28]`") && err.contains("`{shape: [15]"), "{err}");
    assert!(!err.contains("untagged enum"), "{err}");
    let (code, out, err, _) = predict_file("untagged-kernel", &GOOD.replace("kernel: 3", "kernel: [three]"));
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("conv2d.kernel") && err.contains("`[3, 3]`"), "{err}");
}

#[test]
fn element_counts_past_two_to_the_64_do_not_wrap() {
    // [2, 2^32, 2^32, 2^32] (batch 2) wrapped to "0 elements" and slipped past the size check.
    let (code, out, err, _) = predict_file("wrap", &GOOD.replace("input: [16]", "input: [4294967296, 4294967296, 4294967296]"));
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("node `b/input`") && err.contains("158456325028528675187087900672 elements"), "{err}");
}

// ---- Fuzzing the loaders (issue #16, item 6) ----
//
// Each loader gets inputs made by mutating real files (the repository's graphs, hardware descriptions, sweep
// studies, saved runs and raw calibrations, and `--set` arguments): bytes and lines deleted, duplicated and
// swapped, tokens that YAML and JSON give meaning to inserted, numbers replaced by extreme ones. A loader may
// refuse any of them, but must return, not panic. CI runs `MMBENCH_FUZZ_CASES` cases per target (default 48);
// `scripts/fuzz.sh MINUTES` runs many more, with fresh seeds, and proptest keeps every failure it finds in
// `tests/bad_input.proptest-regressions`, replayed first on every later run.

use mmbench::graph::{parse_workload, WorkloadOptions};
use mmbench::hardware::HardwareSource;
use proptest::prelude::*;

/// A seed input of a target, from the repository.
fn seed(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Text that YAML, JSON and mmbench's own syntax give meaning to, and values at the edges of their types.
const TOKENS: &[&str] = &[
    "[", "]", "{", "}", "-", ": ", ",", "\n", "\n  ", "\"", "'", "#", "&a", "*a", "!!str", "<<: *a", "${batch}", "${", "}", "${x} * ", "0", "-1",
    "4294967296", "18446744073709551615", "1e308", "-1e308", "NaN", ".nan", "inf", "null", "~", "true", "[]", "{}", "\u{feff}", "\r\n", "\t", "é",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Number { nth: usize, token: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(nth, token)| Mutation::Number { nth, token }),
    ]
}

/// The nearest character boundary at or below `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(mut s: String, m: &Mutation) -> String {
    match *m {
        Mutation::Delete { at, len } => {
            let a = boundary(&s, at);
            let b = boundary(&s, a + len.min(s.len() - a));
            s.replace_range(a..b.max(a), "");
        }
        Mutation::Insert { at, token } => {
            let a = boundary(&s, at);
            s.insert_str(a, TOKENS[token]);
        }
        Mutation::DuplicateLine { line } | Mutation::SwapLines { a: line, .. } if s.lines().count() == 0 => {
            let _ = line;
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = s.lines().collect();
            let i = line % lines.len();
            lines.insert(i, lines[i]);
            s = lines.join("\n");
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = s.lines().collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            s = lines.join("\n");
        }
        Mutation::Number { nth, token } => {
            let starts: Vec<usize> = s.char_indices().filter(|&(i, c)| c.is_ascii_digit() && (i == 0 || !s.as_bytes()[i - 1].is_ascii_digit())).map(|(i, _)| i).collect();
            if let Some(&a) = starts.get(nth % starts.len().max(1)) {
                let b = s[a..].find(|c: char| !c.is_ascii_digit() && c != '.').map_or(s.len(), |e| a + e);
                s.replace_range(a..b, TOKENS[token]);
            }
        }
    }
    s
}

/// Cases per target: `MMBENCH_FUZZ_CASES`, default 48.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("MMBENCH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    ProptestConfig { cases, max_shrink_iters: 2000, ..ProptestConfig::default() }
}

/// Writes `text` where a loader that reads files finds it (one file per thread: proptest runs targets in
/// parallel test threads).
fn as_file(target: &str, ext: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mmbench-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{target}.{ext}"));
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

const WORKLOAD_SEEDS: &[&str] = &["graphs/av-mnist.yaml", "graphs/cmu-mosei.yaml", "graphs/mujoco-push.yaml", "graphs/vision-touch.yaml", "graphs/medical-vqa.yaml"];
const HARDWARE_SEEDS: &[&str] = &["hardware/rtx4090.yaml", "hardware/h100.yaml", "hardware/jetson-nano.yaml", "hardware/base/nvidia-gpu.yaml"];
const SWEEP_SEEDS: &[&str] = &["examples/studies/link-split.yaml", "examples/studies/edge-offload.yaml", "examples/studies/bandwidth-x-batch.yaml"];
const SET_SEEDS: &[&str] = &["devices.gpu.mem_bw_gbs=2x", "params.vocab+=1", "batch=8", "place.text=cpu", "links[0].bw_gbs=64", "modalities.audio.encoder[0].conv2d.out=12"];

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn fuzz_workload_loader(seed_i in 0..WORKLOAD_SEEDS.len(), ms in prop::collection::vec(mutation(), 1..6), scale in prop::option::of(0.05f64..0.3)) {
        let text = ms.iter().fold(seed(WORKLOAD_SEEDS[seed_i]), mutate);
        // A workload that builds is also predicted: the cost model and simulator see what the loader let in.
        let opts = WorkloadOptions { scale, ..WorkloadOptions::default() };
        if let Ok(w) = parse_workload("fuzz.yaml", &text, &opts) {
            let hw = mmbench::hardware::load_hardware("rtx4090", &[]).unwrap();
            let _ = mmbench::predict::predict(&w, &hw, &mmbench::predict::PredictOptions::default());
        }
    }

    #[test]
    fn fuzz_hardware_loader(seed_i in 0..HARDWARE_SEEDS.len(), ms in prop::collection::vec(mutation(), 1..6)) {
        let text = ms.iter().fold(seed(HARDWARE_SEEDS[seed_i]), mutate);
        if let Ok(src) = HardwareSource::open(&as_file("hardware", "yaml", &text)) {
            let _ = src.build(&[]);
        }
    }

    #[test]
    fn fuzz_sweep_spec_loader(seed_i in 0..SWEEP_SEEDS.len(), ms in prop::collection::vec(mutation(), 1..6)) {
        let text = ms.iter().fold(seed(SWEEP_SEEDS[seed_i]), mutate);
        if let Ok(spec) = mmbench::sweep::SweepSpec::parse("fuzz.yaml", &text) {
            let _ = spec.count();
        }
    }

    #[test]
    fn fuzz_measured_run_loader(ms in prop::collection::vec(mutation(), 1..6)) {
        let text = ms.iter().fold(seed("validation/gpu/runs-fp32/av-mnist-b1.json"), mutate);
        let _ = mmbench::validate::compare::MeasuredRun::read(&as_file("run", "json", &text));
    }

    #[test]
    fn fuzz_raw_calibration_loader(ms in prop::collection::vec(mutation(), 1..6)) {
        let text = ms.iter().fold(seed("validation/wgpu-gpu/calibration-raw.json"), mutate);
        if let Ok(m) = serde_json::from_str::<mmbench::calibrate::derive::Measurements>(&text) {
            let _ = mmbench::calibrate::derive::derive(&m);
        }
    }

    #[test]
    fn fuzz_set_parser(seed_i in 0..SET_SEEDS.len(), ms in prop::collection::vec(mutation(), 1..4)) {
        let arg = ms.iter().fold(SET_SEEDS[seed_i].to_string(), mutate);
        if let Ok((key, op)) = mmbench::yaml::parse_set(&arg) {
            let _ = mmbench::hardware::load_hardware("rtx4090", &[(key.clone(), op.clone())]);
            let opts = WorkloadOptions { sets: vec![(key, op)], ..WorkloadOptions::default() };
            let _ = mmbench::graph::load_workload("av-mnist", &opts);
        }
    }
}
