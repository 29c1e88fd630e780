//! Every built-in workload runs end to end on the adapter at a reduced size with `--check` passing, through the
//! command line, and writes its measured timeline as a Chrome trace; `calibrate --quick` fits a description
//! that `validate` then uses on a saved run. The GPU tests fail, not skip, without an adapter.
#![cfg(feature = "gpu")]

mod common;
use common::mmbench;
use serde_json::Value;

/// All nine workloads, at a tenth of their input sizes and batch 1 (seconds each on lavapipe).
const WORKLOADS: [&str; 9] = ["av-mnist", "mm-imdb", "cmu-mosei", "sarcasm", "medical-vqa", "medical-seg", "mujoco-push", "vision-touch", "transfuser"];

fn out_dir(test: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mmbench-exec-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_workload_runs_at_reduced_size_and_matches_the_reference() {
    let dir = out_dir("workloads");
    for w in WORKLOADS {
        let trace = dir.join(format!("{w}.trace.json"));
        let args = ["run", w, "--scale", "0.1", "--batch", "1", "--check", "--iters", "1", "--warmup", "0", "--format", "json", "--trace", trace.to_str().unwrap()];
        let (code, out, err) = mmbench(&args);
        assert_eq!(code, 0, "{w}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{w}: {e}"));
        assert_eq!(v["workload"], w);
        let check = &v["check"]["ops"];
        let ops = check.as_array().unwrap();
        assert!(!ops.is_empty(), "{w}: nothing checked");
        for op in ops {
            assert!(op["rel_l2"].as_f64().unwrap() <= 1e-4 && op["unwritten"] == 0, "{w}: {op}");
        }
        assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
        let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        assert!(t["traceEvents"].as_array().is_some_and(|e| !e.is_empty()), "{w}: empty trace");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two YAML trees equal up to a relative 1e-9 in their numbers.
fn assert_close(a: &serde_yaml::Value, b: &serde_yaml::Value, at: &str) {
    use serde_yaml::Value::{Mapping, Number, Sequence};
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()), "{at}: {x} vs {y}");
        }
        (Mapping(x), Mapping(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (k, v) in x {
                assert_close(v, &y[k], &format!("{at}.{}", k.as_str().unwrap_or("?")));
            }
        }
        (Sequence(x), Sequence(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_close(v, w, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn calibration_feeds_validation() {
    let dir = out_dir("calibrate");
    let hw = dir.join("calibrated.yaml");
    let raw = dir.join("raw.json");
    let (code, out, err) = mmbench(&["calibrate", "--quick", "--out", hw.to_str().unwrap(), "--raw", raw.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("GFLOP/s") && out.contains("linear"), "{out}");
    let text = std::fs::read_to_string(&hw).unwrap();
    assert!(text.starts_with("# Calibrated by `mmbench calibrate --quick`"), "{text}");
    // The calibrated description works in every command.
    let (code, out, err) = mmbench(&["predict", "av-mnist", "--hardware", hw.to_str().unwrap(), "--scale", "0.25", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let p: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(p["runtime"], "wgpu");
    // Refitting the saved measurements gives the same description.
    let again = dir.join("again.yaml");
    let (code, _, err) = mmbench(&["calibrate", "--from-raw", raw.to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // (The raw JSON keeps every float exactly, `float_roundtrip`; YAML too.)
    let a: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let b: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_close(&a, &b, "");
    // A calibration merged with itself (passes of one calibration, each timing at its fastest) fits the same.
    let twice = dir.join("twice.yaml");
    let both = format!("{},{}", raw.display(), raw.display());
    let (code, _, err) = mmbench(&["calibrate", "--from-raw", &both, "--out", twice.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let c: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&twice).unwrap()).unwrap();
    assert_close(&a, &c, "");
    // Another adapter's measurements do not merge: a clear error naming the file and the field.
    let mut other: Value = serde_json::from_str(&std::fs::read_to_string(&raw).unwrap()).unwrap();
    other["compute_units"] = 64.into();
    let other_raw = dir.join("other-raw.json");
    std::fs::write(&other_raw, other.to_string()).unwrap();
    let (code, out, err) = mmbench(&["calibrate", "--from-raw", &format!("{},{}", raw.display(), other_raw.display()), "--out", dir.join("no.yaml").to_str().unwrap()]);
    common::assert_clean_failure(code, &out, &err);
    assert!(err.contains("other-raw.json") && err.contains("compute_units"), "{err}");
    assert!(!dir.join("no.yaml").exists());

    // A saved run, validated against the calibrated prediction, with a plot.
    let run = dir.join("run.json");
    let (code, _, err) = mmbench(&["run", "cmu-mosei", "--scale", "0.1", "--batch", "2", "--iters", "3", "--format", "json", "--out", run.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let plot = dir.join("scatter.svg");
    let hw_s = hw.to_str().unwrap();
    let args = ["validate", "cmu-mosei", "--hardware", hw_s, "--scale", "0.1", "--batch", "2", "--measured", run.to_str().unwrap(), "--plot", plot.to_str().unwrap(), "--format", "json"];
    let (code, out, err) = mmbench(&args);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let row = &v["rows"][0];
    assert_eq!(row["batch"], 2);
    let measured = row["measured_ms"].as_f64().unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&run).unwrap()).unwrap();
    // Compared at the fastest iteration by default; the median on request.
    assert_eq!(measured, saved["fastest"]["latency_ms"].as_f64().unwrap());
    assert!(measured <= saved["latency_ms"].as_f64().unwrap());
    let median_args = [&args[..args.len() - 4], &["--statistic", "median", "--format", "json"]].concat();
    let (code, out, err) = mmbench(&median_args);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"][0]["measured_ms"].as_f64().unwrap(), saved["latency_ms"].as_f64().unwrap());
    assert!(v["summary"]["end_to_end"]["mape"].as_f64().unwrap() >= 0.0);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    // The description records the machine it was calibrated on, and the run the machine it ran on, with the
    // same quick probe: the smallest kernel, the submission latency, a GEMM and the host-work stand-in.
    let probe_keys = |v: &Value| v["probe"].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let cal: Value = serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).unwrap()).unwrap();
    let want = ["dispatch_s", "gemm_s", "host_s", "submit_s"];
    assert_eq!(probe_keys(&cal["machine"]), want, "{}", cal["machine"]);
    assert_eq!(probe_keys(&saved["machine"]), want, "{}", saved["machine"]);
    assert_eq!(cal["machine"]["adapter"], saved["machine"]["adapter"]);
    assert!(saved["machine"]["host_threads"].as_u64().unwrap() >= 1);
    // A description calibrated on another host (64 threads) whose GEMM took three times as long: validate and
    // run --hardware say so, and still run.
    let mut other: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    other["machine"]["host_threads"] = 64.into();
    let gemm = other["machine"]["probe"]["gemm_s"].as_f64().unwrap();
    other["machine"]["probe"]["gemm_s"] = (3.0 * gemm).into();
    let other_hw = dir.join("other-machine.yaml");
    std::fs::write(&other_hw, serde_yaml::to_string(&other).unwrap()).unwrap();
    let other_args = ["validate", "cmu-mosei", "--hardware", other_hw.to_str().unwrap(), "--scale", "0.1", "--batch", "2", "--measured", run.to_str().unwrap()];
    let (code, _, err) = mmbench(&other_args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: `") && err.contains("other-machine.yaml` was calibrated on another machine"), "{err}");
    assert!(err.contains("host threads: ") && err.contains("64 when calibrated") && err.contains("quick probe `gemm_s`"), "{err}");
    let (code, _, err) = mmbench(&["run", "cmu-mosei", "--scale", "0.1", "--batch", "2", "--iters", "2", "--hardware", other_hw.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("64 when calibrated"), "{err}");
    // Two passes over the configuration, saved one file each; validation keeps the faster pass, and the
    // saved passes given back with --measured give the same comparison.
    let runs = dir.join("runs");
    let pass_args = ["validate", "cmu-mosei", "--hardware", hw_s, "--scale", "0.1", "--batch", "2", "--iters", "2", "--passes", "2", "--save-runs", runs.to_str().unwrap(), "--format", "json"];
    let (code, out, err) = mmbench(&pass_args);
    assert_eq!(code, 0, "{err}");
    let measured = serde_json::from_str::<Value>(&out).unwrap()["rows"][0]["measured_ms"].as_f64().unwrap();
    let passes: Vec<String> = (1..=2).map(|p| runs.join(format!("cmu-mosei-b2-pass{p}.json")).display().to_string()).collect();
    let fastest = |p: &String| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["fastest"]["latency_ms"].as_f64().unwrap();
    assert_eq!(measured, fastest(&passes[0]).min(fastest(&passes[1])));
    let chosen = dir.join("chosen");
    let (code, out, err) = mmbench(&["validate", "cmu-mosei", "--hardware", hw_s, "--scale", "0.1", "--batch", "2", "--measured", &passes.join(","), "--save-runs", chosen.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["rows"][0]["measured_ms"].as_f64().unwrap(), measured);
    // --save-runs keeps the file it compared with: the faster pass.
    let faster = if fastest(&passes[0]) <= fastest(&passes[1]) { &passes[0] } else { &passes[1] };
    assert_eq!(std::fs::read(chosen.join("cmu-mosei-b2.json")).unwrap(), std::fs::read(faster).unwrap());
    // The saved run does not match another batch: a clear error, nothing run.
    let (code, out, err) = mmbench(&["validate", "cmu-mosei", "--hardware", hw_s, "--scale", "0.1", "--batch", "4", "--measured", run.to_str().unwrap(), "--adapter", "no-such-adapter"]);
    common::assert_clean_failure(code, &out, &err);
    // A corrupted measured file names itself.
    std::fs::write(&run, "{\"workload\": 3}").unwrap();
    let (code, out, err) = mmbench(&["validate", "cmu-mosei", "--hardware", hw_s, "--measured", run.to_str().unwrap()]);
    common::assert_clean_failure(code, &out, &err);
    assert!(err.contains("run.json") && err.contains("mmbench run"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
