//! `mmbench characterize` and `predict --trace`: the files they write and what other tools can rely on in
//! them.

mod common;
use common::{assert_clean_failure, mmbench};
use mmbench::graph::{load_workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::{predict, PredictOptions};
use mmbench::report::chrome::chrome_trace;
use mmbench::trace::RecordKind;
use serde_json::Value;
use std::path::PathBuf;

fn out_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmbench-char-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Checks that `svg` is well-formed XML and returns how many elements it holds.
fn xml_elements(svg: &str) -> usize {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(svg);
    let mut n = 0;
    loop {
        match r.read_event().unwrap_or_else(|e| panic!("SVG is not well-formed: {e}")) {
            Event::Eof => return n,
            Event::Start(_) | Event::Empty(_) => n += 1,
            _ => {}
        }
    }
}

#[test]
fn out_dir_holds_report_csvs_svgs_and_traces_for_every_combination() {
    let dir = out_dir("all");
    let d = dir.to_str().unwrap();
    let (code, out, err) = mmbench(&["characterize", "av-mnist", "cmu-mosei", "--hardware", "a100", "jetson-agx-orin", "--out", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "the report goes to files: {out}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for w in ["av-mnist", "cmu-mosei"] {
        for hw in ["a100", "jetson-agx-orin"] {
            assert!(report.contains(&format!("## {w} on {hw}")), "{w} on {hw}");
            let svg = std::fs::read_to_string(dir.join(format!("timeline-{w}-{hw}.svg"))).unwrap();
            assert!(xml_elements(&svg) > 50);
            let trace: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("trace-{w}-{hw}.json"))).unwrap()).unwrap();
            assert!(trace["traceEvents"].as_array().unwrap().len() > 50);
        }
    }
    for svg in ["stages.svg", "roofline-a100.svg", "roofline-jetson-agx-orin.svg"] {
        assert!(xml_elements(&std::fs::read_to_string(dir.join(svg)).unwrap()) > 20, "{svg}");
    }
    let mut summary = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    assert_eq!(summary.records().count(), 4);
    let buckets = std::fs::read_to_string(dir.join("kernel_buckets.csv")).unwrap();
    assert!(buckets.starts_with("workload,hardware,runtime,batch,stage,bucket,"));
    // No temporary files left behind.
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_metrics_of_av_mnist_on_a100_hold_the_three_traits() {
    let (code, out, err) = mmbench(&["characterize", "av-mnist", "--hardware", "a100", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let c = &v[0];
    assert_eq!((c["workload"].as_str(), c["hardware"].as_str()), (Some("av-mnist"), Some("a100")));
    let shares: f64 = c["stages"].as_array().unwrap().iter().map(|s| s["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    assert_eq!(c["sync"]["sync_points"], 1);
    // MMBench's reference runs are serial: no overlap between the branches.
    assert_eq!(c["overlap"]["overlap_s"], 0.0);
    let all = c["kernels"].as_array().unwrap().iter().find(|k| k["stage"].is_null()).unwrap().clone();
    assert!(all["kernels"].as_u64().unwrap() > 40);
    // Most kernels of AV-MNIST last under 10 us (DESIGN.md).
    assert!(all["short_share"].as_f64().unwrap() > 0.5, "{all}");
    assert!(c["memory"]["peak_activation_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn predict_trace_flag_writes_every_op_with_its_duration() {
    let dir = out_dir("trace");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.json");
    let (code, _, err) = mmbench(&["predict", "av-mnist", "--hardware", "a100", "--trace", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(&file).unwrap();
    let w = load_workload("av-mnist", &WorkloadOptions::default()).unwrap();
    let hw = load_hardware("a100", &[]).unwrap();
    let t = predict(&w, &hw, &PredictOptions::default()).unwrap();
    assert_eq!(written, chrome_trace(&t).unwrap(), "the flag writes the library's trace");
    let v: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["displayTimeUnit"], "ms");
    let slices: Vec<&Value> = v["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X" && e["cat"] != "sync").collect();
    let executed: Vec<_> = t.ops.iter().filter(|r| r.kind != RecordKind::Input).collect();
    assert_eq!(slices.len(), executed.len());
    for (e, r) in slices.iter().zip(&executed) {
        assert_eq!(e["name"], r.name.as_str());
        assert!((e["dur"].as_f64().unwrap() - r.duration_s() * 1e6).abs() < 1e-6, "{}", r.name);
        for k in ["op", "modality", "flops", "bytes"] {
            assert!(e["args"].get(k).is_some(), "{k}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn predicted_records_carry_their_output_sizes() {
    let w = load_workload("av-mnist", &WorkloadOptions::default()).unwrap();
    let t = predict(&w, &load_hardware("a100", &[]).unwrap(), &PredictOptions::default()).unwrap();
    let concat = t.ops.iter().find(|r| r.op == "concat").unwrap();
    // [40, 240] fp32.
    assert_eq!(concat.out_bytes, 40 * 240 * 4);
    assert!(t.ops.iter().all(|r| r.out_bytes > 0), "every input, copy and op produces a tensor");
}

#[test]
fn unknown_hardware_fails_cleanly() {
    let (code, out, err) = mmbench(&["characterize", "av-mnist", "--hardware", "a1000"]);
    assert_clean_failure(code, &out, &err);
    assert!(err.contains("a1000"), "{err}");
}
