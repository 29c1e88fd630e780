//! The PyTorch backend through the CLI, on the CPU (CI has no GPU): `export`, `run --backend torch --check`
//! on every workload, the run JSON read back by `validate`, and the clear errors. These tests need python3
//! with torch and numpy (`scripts/test.sh` installs them) and fail, not skip, without them.

mod common;
use common::{assert_clean_failure, mmbench, temp_file};
use serde_json::Value;

const WORKLOADS: [&str; 9] = ["av-mnist", "mm-imdb", "cmu-mosei", "sarcasm", "medical-vqa", "medical-seg", "mujoco-push", "vision-touch", "transfuser"];

fn json_of(args: &[&str]) -> Value {
    let (code, out, err) = mmbench(args);
    assert_eq!(code, 0, "mmbench {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[test]
fn export_writes_the_versioned_schema_after_batch_scale_and_set() {
    let d = json_of(&["export", "av-mnist", "--batch", "3", "--scale", "0.5", "--set", "variant=cca"]);
    assert_eq!(d["schema"], "mmbench.graph");
    assert_eq!(d["version"], 1);
    assert_eq!(d["batch"], 3);
    let nodes = d["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["output"]["shape"][0], 3);
    let info = json_of(&["info", "av-mnist", "--batch", "3", "--scale", "0.5", "--set", "variant=cca", "--format", "json"]);
    assert_eq!(d["params"], info["params"]);
    assert_eq!(d["flops"], info["flops"]);
    // A user file exports as well; a hardware key is refused.
    let (code, out, err) = mmbench(&["export", "av-mnist", "--set", "gpu.mem_bw_gbs=10"]);
    assert_clean_failure(code, &out, &err);
}

#[test]
fn every_workload_runs_in_pytorch_and_matches_the_cpu_reference() {
    for w in WORKLOADS {
        let r = json_of(&["run", w, "--backend", "torch", "--device", "cpu", "--scale", "0.1", "--batch", "2", "--iters", "2", "--warmup", "1", "--profile-iters", "1", "--check", "--format", "json"]);
        let check = &r["check"];
        let ops = check["ops"].as_array().unwrap();
        assert!(!ops.is_empty(), "{w}: nothing compared");
        for op in ops {
            assert!(op["rel_l2"].as_f64().unwrap() <= 1e-4, "{w}: {} ({}) differs by {}", op["name"], op["op"], op["rel_l2"]);
        }
        assert_eq!(r["backend"], "torch-cpu");
        assert!(r["latency_ms"].as_f64().unwrap() > 0.0, "{w}");
        // Stages add up to the latency, as for every run.
        let total: f64 = r["stages"].as_array().unwrap().iter().map(|s| s["ms"].as_f64().unwrap()).sum();
        assert!((total - r["latency_ms"].as_f64().unwrap()).abs() < 1e-6 * total.max(1.0) + 1e-9, "{w}: stages {total} vs latency {}", r["latency_ms"]);
        assert!(r["torch"]["environment"]["torch"].is_string(), "{w}");
        // The machine, with the chain probe the runner timed first (what a PyTorch calibration records).
        assert_eq!(r["machine"]["backend"], "torch-cpu fp32", "{w}");
        assert!(r["machine"]["probe"]["op_call_s"].as_f64().unwrap() > 0.0, "{w}: {}", r["machine"]);
        // Each call's host issue time, inside an inference, is shared out to the ops and sums to the whole.
        let issue = r["torch"]["issue_ms"].as_f64().unwrap();
        let per_op: Vec<f64> = r["torch"]["op_issue_us"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(per_op.len(), r["torch"]["op_kernels"].as_array().unwrap().len(), "{w}");
        assert!(issue > 0.0 && (per_op.iter().sum::<f64>() * 1e-3 - issue).abs() < 1e-6 * issue, "{w}: {issue} ms vs {per_op:?}");
    }
}

#[test]
fn the_run_json_is_a_measured_run_for_validate_and_the_trace_opens() {
    let dir = std::env::temp_dir().join(format!("mmbench-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = dir.join("av-mnist.json");
    let trace = dir.join("trace.json");
    let (code, _, err) = mmbench(&[
        "run", "av-mnist", "--backend", "torch", "--device", "cpu", "--scale", "0.25", "--batch", "2", "--iters", "3", "--format", "json", "--out", run.to_str().unwrap(), "--trace", trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(!t["traceEvents"].as_array().unwrap().is_empty());
    let v = json_of(&["validate", "av-mnist", "--hardware", "xeon-8380", "--scale", "0.25", "--batch", "2", "--measured", run.to_str().unwrap(), "--format", "json"]);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert!(v["rows"][0]["measured_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn clear_errors_for_no_python_no_cuda_and_strict_check() {
    // No interpreter: says to install Python (or name one).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmbench"))
        .args(["run", "av-mnist", "--backend", "torch", "--device", "cpu", "--scale", "0.1"])
        .env("MMBENCH_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_clean_failure(out.status.code().unwrap_or(-1), &String::from_utf8_lossy(&out.stdout), &err);
    assert!(err.contains("Python 3") && err.contains("MMBENCH_PYTHON"), "{err}");
    // An interpreter without torch: says to pip install it.
    let fake = temp_file("torch-backend", "python3", "#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmbench"))
        .args(["run", "av-mnist", "--backend", "torch", "--device", "cpu"])
        .env("MMBENCH_PYTHON", &fake)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pip install torch numpy"), "{err}");
    // --check is strict fp32.
    let (code, out, err) = mmbench(&["run", "av-mnist", "--backend", "torch", "--device", "cpu", "--math", "tf32", "--check"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("--math fp32"), "{err}");
    // This machine has no CUDA device.
    let (code, out, err) = mmbench(&["run", "av-mnist", "--backend", "torch", "--device", "cuda", "--scale", "0.1"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("no CUDA device"), "{err}");
}

#[test]
fn the_committed_gpu_campaign_validates_on_the_calibrated_presets() {
    // validation/gpu's saved H100 runs against the presets fitted on the same machine (no GPU needed): every
    // configuration is read back, and the figures the campaign reports hold. The bounds are the campaign's
    // own figures rounded up, so a change to the model that makes it worse fails here.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/gpu");
    for (math, preset, max_mape, min_spearman, max_stage_mape) in [("fp32", "h100", 0.14, 0.99, 0.21), ("default", "h100-tf32", 0.12, 0.98, 0.18)] {
        let mut runs: Vec<String> = std::fs::read_dir(root.join(format!("runs-{math}"))).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
        runs.sort();
        let measured = runs.join(",");
        let mut args = vec!["validate"];
        args.extend(WORKLOADS);
        args.extend(["--hardware", preset, "--batch", "1,2,8,10,32,40,64", "--measured-only", "--measured", &measured, "--format", "json"]);
        let d = json_of(&args);
        let e2e = &d["summary"]["end_to_end"];
        assert_eq!(e2e["n"].as_u64(), Some(runs.len() as u64), "{math}: every saved run is a configuration");
        assert!(e2e["mape"].as_f64().unwrap() <= max_mape, "{math}: {e2e}");
        assert!(e2e["spearman"].as_f64().unwrap() >= min_spearman, "{math}: {e2e}");
        // Stages are predicted as the runner times them (CUDA events in one stream's order).
        let stages = &d["summary"]["stages"];
        assert!(stages["mape"].as_f64().unwrap() <= max_stage_mape, "{math}: {stages}");
        // Every saved run counted its kernels, and each is compared with the runtime's count. Every run timed
        // each call's host issue too, and the simulated host thread's time is within 15 % of it on average.
        let mut issue = Vec::new();
        for row in d["rows"].as_array().unwrap() {
            let k = &row["kernels"];
            assert!(k["measured"].as_u64().unwrap() > 0 && k["predicted"].as_u64().unwrap() > 0, "{math}: {row}");
            if let Some(e) = row["issue"]["error"].as_f64() {
                issue.push(e.abs());
            }
        }
        assert_eq!(issue.len(), runs.len(), "{math}: host issue timed in every run");
        let mean = issue.iter().sum::<f64>() / issue.len() as f64;
        assert!(mean <= 0.15, "{math}: host issue off by {mean} on average");
    }
}
