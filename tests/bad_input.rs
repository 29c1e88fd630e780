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
