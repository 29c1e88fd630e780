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
