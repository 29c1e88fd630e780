//! What-if overrides shared by every command and by sweeps: which target a `--set` key changes (the
//! workload or the hardware), and `--place` assignments.

use crate::error::{Error, Result};
use crate::yaml::{parse_set, SetOp};

/// `--set` overrides: (key path, operation).
pub type Sets = Vec<(String, SetOp)>;

/// Top-level workload keys: a `--set` starting with one of these changes the workload, anything else the
/// hardware. `workload.` and `hardware.` prefixes make the target explicit.
pub const WORKLOAD_KEYS: &[&str] = &["batch", "modalities", "fusion", "head", "nodes", "params", "variant", "outputs", "compose"];

/// What a `--set` key changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Workload,
    Hardware,
}

/// Routes a key, returning the target and the key without its `workload.` / `hardware.` prefix.
pub fn route(key: &str) -> (Target, &str) {
    if let Some(k) = key.strip_prefix("workload.") {
        return (Target::Workload, k);
    }
    if let Some(k) = key.strip_prefix("hardware.") {
        return (Target::Hardware, k);
    }
    let first = key.split(['.', '[']).next().unwrap_or("");
    if WORKLOAD_KEYS.contains(&first) { (Target::Workload, key) } else { (Target::Hardware, key) }
}

/// Splits `--set` arguments into workload and hardware overrides.
pub fn split_sets(args: &[String]) -> Result<(Sets, Sets)> {
    let mut wl = Vec::new();
    let mut hw = Vec::new();
    for a in args {
        let (key, op) = parse_set(a).map_err(|m| Error::input(Default::default(), m))?;
        match route(&key) {
            (Target::Workload, k) => wl.push((k.to_string(), op)),
            (Target::Hardware, k) => hw.push((k.to_string(), op)),
        }
    }
    Ok((wl, hw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_routed_by_their_first_key() {
        let args: Vec<String> = ["batch=8", "gpu.mem_bw_gbs=*2", "workload.x=1", "hardware.batch=2", "fusion=lrtf"].iter().map(|s| s.to_string()).collect();
        let (wl, hw) = split_sets(&args).unwrap();
        let wl: Vec<&str> = wl.iter().map(|(k, _)| k.as_str()).collect();
        let hw: Vec<&str> = hw.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(wl, ["batch", "x", "fusion"]);
        assert_eq!(hw, ["gpu.mem_bw_gbs", "batch"]);
    }
}
