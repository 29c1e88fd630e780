//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Runs the `mmbench` binary; returns (exit code, stdout, stderr).
pub fn mmbench(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmbench")).args(args).output().expect("run mmbench");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Writes `text` to a fresh file in a per-test temporary folder and returns its path.
pub fn temp_file(test: &str, name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmbench-test-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts a command failed cleanly: non-zero exit, an `error:` line, no panic, nothing on stdout.
pub fn assert_clean_failure(code: i32, stdout: &str, stderr: &str) {
    assert_ne!(code, 0, "expected failure; stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stdout.is_empty(), "stdout should be empty on error: {stdout}");
}

// ---- Workload specifications (tests/workload_*.rs) ----

use mmbench::graph::{load_workload, Node, Stage, Workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::{predict, PredictOptions};
use mmbench::trace::{RecordKind, Trace};

/// A built-in workload with `--set` overrides (`variant=NAME`, `params.vocab=100`).
pub fn workload(name: &str, sets: &[&str]) -> Workload {
    try_workload(name, sets).unwrap_or_else(|e| panic!("{name} {sets:?}: {e}"))
}

/// [`workload`], or the loader's error message.
pub fn try_workload(name: &str, sets: &[&str]) -> Result<Workload, String> {
    let sets = sets.iter().map(|s| mmbench::yaml::parse_set(s)).collect::<Result<Vec<_>, _>>()?;
    load_workload(name, &WorkloadOptions { batch: None, sets, scale: None }).map_err(|e| e.to_string())
}

/// The node of this full name.
pub fn node<'a>(w: &'a Workload, name: &str) -> &'a Node {
    w.nodes().map(|(_, n)| n).find(|n| n.name == name).unwrap_or_else(|| panic!("no node `{name}` in {}", w.name))
}

/// The shape of the workload's first output.
pub fn output_shape(w: &Workload) -> Vec<usize> {
    w.graph[w.outputs[0]].output.shape.clone()
}

/// The output shape of the last fusion node (what the fusion hands to the head).
pub fn fusion_output_shape(w: &Workload) -> Vec<usize> {
    w.nodes().filter(|(_, n)| n.stage == Stage::Fusion).last().expect("a fusion stage").1.output.shape.clone()
}

/// Registered parameters per (stage, modality), encoders in modality order, then fusion and head.
pub fn stage_params(w: &Workload) -> Vec<(Stage, Option<String>, u64)> {
    w.stage_totals().into_iter().map(|t| (t.stage.expect("every node has a stage"), t.modality, t.params)).collect()
}

/// Every node is tagged: encoder nodes belong to one modality branch; fusion and head nodes to none. All three
/// stages are present.
pub fn assert_stage_tags(w: &Workload) {
    for (_, n) in w.nodes() {
        assert_eq!(n.stage == Stage::Encoder, n.modality.is_some(), "{}: stage {:?}, modality {:?}", n.name, n.stage, w.modality_name(n));
    }
    for stage in Stage::ALL {
        assert!(w.nodes().any(|(_, n)| n.stage == stage), "{}: no {} node", w.name, stage.name());
    }
}

/// The names of the join nodes.
pub fn join_names(w: &Workload) -> Vec<String> {
    w.joins().into_iter().map(|j| w.graph[j].name.clone()).collect()
}

/// The prediction on a hardware preset with its default runtime, checked for consistency.
pub fn predict_on(w: &Workload, hardware: &str) -> Trace {
    let hw = load_hardware(hardware, &[]).unwrap_or_else(|e| panic!("{hardware}: {e}"));
    let t = predict(w, &hw, &PredictOptions::default()).unwrap_or_else(|e| panic!("{} on {hardware}: {e}", w.name));
    t.validate().unwrap_or_else(|e| panic!("{} on {hardware}: {e}", w.name));
    assert!(t.latency_s > 0.0);
    t
}

/// The devices that ran the executed ops whose names start with `prefix`, sorted and deduplicated.
pub fn devices_running(t: &Trace, prefix: &str) -> Vec<String> {
    let mut d: Vec<String> =
        t.ops.iter().filter(|r| r.kind == RecordKind::Op && r.name.starts_with(prefix)).map(|r| t.devices[r.device as usize].clone()).collect();
    d.sort();
    d.dedup();
    d
}

/// Bytes of every copy, in issue order.
pub fn copies(t: &Trace) -> Vec<u64> {
    t.ops.iter().filter(|r| r.kind == RecordKind::Transfer).map(|r| r.bytes).collect()
}

/// The device a preset runs unpinned ops on (its GPU, or the CPU of a CPU-only machine).
pub fn default_device(hardware: &str) -> String {
    let hw = load_hardware(hardware, &[]).unwrap_or_else(|e| panic!("{hardware}: {e}"));
    hw.devices[hw.default_device].name.clone()
}

/// The GPU presets and the CPU-only one that every MMBench workload must predict on.
pub const PRESETS: [&str; 3] = ["a100", "jetson-agx-orin", "xeon-8380"];
