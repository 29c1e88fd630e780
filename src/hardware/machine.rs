//! The machine a calibrated description was fitted on, and a quick probe of its speed. A calibration holds
//! for its machine only: `validation/lavapipe.yaml`, used on a machine with the same adapter name but a CPU
//! about twice as fast, predicted its runs 101 % too slow (recalibrated there, 4 %). A calibrated description
//! therefore records the machine (`machine:`), and every run records the machine it ran on with the same
//! probe, timed the same way; `run --hardware` and `validate` warn where the two differ.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A quick-probe figure that differs from the calibrated one by more than this share is flagged.
pub const PROBE_TOLERANCE: f64 = 0.20;

/// Where a description was calibrated, or where a run ran. Empty strings and zeros are unknown, and
/// unknown fields are not compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineRecord {
    /// The adapter (`llvmpipe (LLVM 15.0.6, 256 bits)`, `NVIDIA H100 80GB HBM3`).
    pub adapter: String,
    /// `vulkan`, or `torch-cuda fp32` for PyTorch.
    #[serde(default)]
    pub backend: String,
    /// The adapter's driver and its version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// The host CPU's model name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_cpu: String,
    /// Logical CPU cores of the host.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_threads: u32,
    /// When (UTC date).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// Quick-probe figures, seconds, by name: each the fastest of a few timings, as the calibration's own
    /// (see [`crate::calibrate::measure::quick_probe`] and the PyTorch runner's chain probe).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probe: BTreeMap<String, f64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl MachineRecord {
    /// Every way the machine `here` differs from this one (the calibrated machine), one line each: the
    /// adapter, driver, host CPU or its cores where both are known, and each probe figure both have that is
    /// off by more than [`PROBE_TOLERANCE`].
    pub fn mismatches(&self, here: &MachineRecord) -> Vec<String> {
        let mut out = Vec::new();
        for (what, calibrated, now) in [
            ("adapter", &self.adapter, &here.adapter),
            ("backend", &self.backend, &here.backend),
            ("driver", &self.driver, &here.driver),
            ("host CPU", &self.host_cpu, &here.host_cpu),
        ] {
            if !calibrated.is_empty() && !now.is_empty() && calibrated != now {
                out.push(format!("{what}: `{now}` here, `{calibrated}` when calibrated"));
            }
        }
        if self.host_threads > 0 && here.host_threads > 0 && self.host_threads != here.host_threads {
            out.push(format!("host threads: {} here, {} when calibrated", here.host_threads, self.host_threads));
        }
        for (name, &then) in &self.probe {
            let Some(&now) = here.probe.get(name) else { continue };
            if then > 0.0 && now > 0.0 && (now / then - 1.0).abs() > PROBE_TOLERANCE {
                out.push(format!(
                    "quick probe `{name}`: {} here, {} when calibrated ({:.2}x)",
                    crate::report::seconds_text(now),
                    crate::report::seconds_text(then),
                    now / then
                ));
            }
        }
        out
    }
}

/// The host CPU's model name as the OS reports it (`/proc/cpuinfo` on Linux); empty where it cannot be read.
pub fn host_cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_default()
}

/// Logical CPU cores of the host.
pub fn host_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as u32
}

/// The warnings for runs on `here` of a description calibrated on `calibrated`, naming the description:
/// empty when they match (or the description records no machine).
pub fn warnings(description: &str, calibrated: Option<&MachineRecord>, here: &MachineRecord) -> Vec<String> {
    let Some(cal) = calibrated else { return Vec::new() };
    cal.mismatches(here)
        .into_iter()
        .map(|m| format!("`{description}` was calibrated on another machine, or this one ran at another speed: {m}; its predictions may not hold here (recalibrate with `mmbench calibrate`)"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(threads: u32, probe: &[(&str, f64)]) -> MachineRecord {
        MachineRecord {
            adapter: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            backend: "vulkan".into(),
            driver: String::new(),
            host_cpu: "Intel(R) Xeon(R) Processor".into(),
            host_threads: threads,
            date: "2026-11-29".into(),
            probe: probe.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
        }
    }

    #[test]
    fn the_same_machine_at_its_speed_matches() {
        let cal = record(2, &[("matmul_s", 1e-3), ("dispatch_s", 2e-6)]);
        // 15 % slower and 10 % faster: inside the tolerance.
        let here = record(2, &[("matmul_s", 1.15e-3), ("dispatch_s", 1.8e-6)]);
        assert!(cal.mismatches(&here).is_empty(), "{:?}", cal.mismatches(&here));
        // A figure only one side has, and unknown fields, are not compared.
        let mut partial = record(0, &[("host_s", 5.0)]);
        partial.host_cpu.clear();
        assert!(cal.mismatches(&partial).is_empty());
    }

    #[test]
    fn another_cpu_and_a_probe_off_by_more_than_a_fifth_are_named() {
        let cal = record(2, &[("matmul_s", 1e-3), ("dispatch_s", 2e-6)]);
        let mut here = record(4, &[("matmul_s", 0.5e-3), ("dispatch_s", 2.1e-6)]);
        here.host_cpu = "AMD EPYC 9654".into();
        let m = cal.mismatches(&here);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].contains("host CPU: `AMD EPYC 9654` here, `Intel(R) Xeon(R) Processor` when calibrated"), "{m:?}");
        assert!(m[1].contains("host threads: 4 here, 2 when calibrated"), "{m:?}");
        assert!(m[2].starts_with("quick probe `matmul_s`") && m[2].contains("(0.50x)"), "{m:?}");
        let w = warnings("validation/lavapipe.yaml", Some(&cal), &here);
        assert_eq!(w.len(), 3);
        assert!(w.iter().all(|l| l.starts_with("`validation/lavapipe.yaml` was calibrated on another machine") && l.contains("recalibrate")));
        // Slower by more than a fifth is flagged too; no record, no warning.
        let slow = record(2, &[("matmul_s", 1.3e-3)]);
        assert_eq!(cal.mismatches(&slow).len(), 1);
        assert!(warnings("x", None, &here).is_empty());
    }

    #[test]
    fn a_record_reads_back_from_yaml_and_refuses_unknown_fields() {
        let cal = record(2, &[("matmul_s", 1e-3)]);
        let text = serde_yaml::to_string(&cal).unwrap();
        assert_eq!(serde_yaml::from_str::<MachineRecord>(&text).unwrap(), cal);
        assert!(serde_yaml::from_str::<MachineRecord>("adapter: x\ncores: 3\n").is_err());
    }
}
