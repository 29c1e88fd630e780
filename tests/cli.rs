//! The command-line contract of DESIGN.md: what other tools read from `predict`, `info` and `list`.

mod common;
use common::mmbench;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let (code, out, err) = mmbench(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

#[test]
fn predict_json_carries_the_contract_fields() {
    let v = json(&["predict", "av-mnist", "--format", "json"]);
    assert_eq!(v["workload"], "av-mnist");
    assert_eq!(v["hardware"], "a100");
    assert_eq!(v["batch"], 40);
    assert_eq!(v["params"], 260_922);
    assert!(v["flops"].as_u64().unwrap() > 0);
    let latency = v["latency_ms"].as_f64().unwrap();
    assert!(latency > 0.0);
    assert!(v["sync_wait_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["runtime"], "eager");
    let stages = v["stages"].as_array().unwrap();
    let names: Vec<(String, Value)> = stages.iter().map(|s| (s["stage"].as_str().unwrap().to_string(), s["modality"].clone())).collect();
    assert_eq!(
        names,
        [
            ("encoder".to_string(), Value::from("image")),
            ("encoder".to_string(), Value::from("audio")),
            ("fusion".to_string(), Value::Null),
            ("head".to_string(), Value::Null)
        ]
    );
    // The stage times add up to the end-to-end latency.
    let sum: f64 = stages.iter().map(|s| s["ms"].as_f64().unwrap()).sum();
    assert!((sum - latency).abs() < 1e-9 * latency.max(1.0), "{sum} vs {latency}");
}

#[test]
fn predict_batch_set_and_runtime_flags_change_the_prediction() {
    let base = json(&["predict", "av-mnist", "--format", "json"]);
    let b8 = json(&["predict", "av-mnist", "--batch", "8", "--format", "json"]);
    assert_eq!(b8["batch"], 8);
    let slow_bw = json(&["predict", "av-mnist", "--set", "gpu.mem_bw_gbs=/10", "--format", "json"]);
    assert!(slow_bw["latency_ms"].as_f64() > base["latency_ms"].as_f64());
    let graph = json(&["predict", "av-mnist", "--runtime", "cuda_graph", "--format", "json"]);
    assert!(graph["latency_ms"].as_f64() < base["latency_ms"].as_f64());
    assert_eq!(graph["runtime"], "cuda_graph");
    let placed = json(&["predict", "av-mnist", "--place", "audio=cpu", "--format", "json"]);
    assert!(placed["devices"].as_array().unwrap().iter().any(|d| d == "cpu"));
}

#[test]
fn predict_csv_has_one_row_per_stage_and_a_total() {
    let (code, out, err) = mmbench(&["predict", "cmu-mosei", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let headers = r.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), ["workload", "hardware", "runtime", "batch", "stage", "modality", "ms", "share", "ops", "kernels"]);
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 3 + 1 + 1 + 1);
    assert_eq!(&rows[5][4], "total");
}

#[test]
fn info_json_carries_the_contract_fields() {
    let v = json(&["info", "cmu-mosei", "--format", "json"]);
    assert_eq!(v["params"], 2_712_691);
    assert!(v["flops"].as_u64().unwrap() > 0);
    assert!(v["ops"].as_u64().unwrap() > 0);
    let stages = v["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 5);
    for s in stages {
        for k in ["stage", "modality", "params", "flops", "ops"] {
            assert!(s.get(k).is_some(), "missing {k} in {s}");
        }
    }
    let total: u64 = stages.iter().map(|s| s["params"].as_u64().unwrap()).sum();
    assert_eq!(total, 2_712_691);
    assert!(v["peak_memory_bytes"].as_u64().unwrap() > v["param_bytes"].as_u64().unwrap());
}

#[test]
fn list_shows_workloads_with_modalities_and_hardware() {
    let (code, out, err) = mmbench(&["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("av-mnist") && out.contains("image, audio"), "{out}");
    assert!(out.contains("a100") && out.contains("eager"), "{out}");
}

#[test]
fn table_output_states_the_runtime_assumption() {
    let (code, out, _) = mmbench(&["predict", "av-mnist"]);
    assert_eq!(code, 0);
    assert!(out.contains("runtime eager") && out.contains("one in-order stream"), "{out}");
    assert!(out.contains("sync wait") && out.contains("critical path"), "{out}");
}
