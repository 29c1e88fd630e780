//! Hardware presets embedded in the binary from `hardware/*.yaml`, and the base files they extend.

/// (name, YAML text) of every preset: a machine that `--hardware <name>` loads and `mmbench list` shows.
/// Datacenter GPUs, a desktop GPU, edge SoCs, then CPU-only machines.
pub static PRESETS: &[(&str, &str)] = &[
    ("v100", include_str!("../../hardware/v100.yaml")),
    ("a100", include_str!("../../hardware/a100.yaml")),
    ("h100", include_str!("../../hardware/h100.yaml")),
    ("h100-tf32", include_str!("../../hardware/h100-tf32.yaml")),
    ("h200", include_str!("../../hardware/h200.yaml")),
    ("h100-datasheet", include_str!("../../hardware/h100-datasheet.yaml")),
    ("h200-datasheet", include_str!("../../hardware/h200-datasheet.yaml")),
    ("rtx4090", include_str!("../../hardware/rtx4090.yaml")),
    ("jetson-nano", include_str!("../../hardware/jetson-nano.yaml")),
    ("jetson-agx-orin", include_str!("../../hardware/jetson-agx-orin.yaml")),
    ("jetson-nano-cpu", include_str!("../../hardware/jetson-nano-cpu.yaml")),
    ("jetson-agx-orin-cpu", include_str!("../../hardware/jetson-agx-orin-cpu.yaml")),
    ("xeon-8380", include_str!("../../hardware/xeon-8380.yaml")),
    ("epyc-9654", include_str!("../../hardware/epyc-9654.yaml")),
];

/// (name, YAML text) of the base files under `hardware/base/`: the shared runtimes, assumed efficiency curves
/// and overheads that presets take with `extends: base/<name>`. A base is not a machine (it has no datasheet
/// figures), so it is not a preset: `preset_names` leaves it out and loading it alone fails.
pub static BASES: &[(&str, &str)] = &[
    ("base/x86-cpu", include_str!("../../hardware/base/x86-cpu.yaml")),
    ("base/nvidia-gpu", include_str!("../../hardware/base/nvidia-gpu.yaml")),
];

/// The hardware used when a command names none.
pub const DEFAULT_HARDWARE: &str = "a100";

/// The text of a preset or of a base (what `extends:` may name).
pub fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().chain(BASES).find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The names of the presets (machines), not of the bases.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_bases_are_not_listed() {
        let mut all: Vec<&str> = PRESETS.iter().chain(BASES).map(|(n, _)| *n).collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a name is used twice");
        assert!(preset_names().all(|n| !n.starts_with("base/")));
        assert!(BASES.iter().all(|(n, _)| n.starts_with("base/") && preset_text(n).is_some()));
    }

    #[test]
    fn every_base_is_extended_by_a_preset_or_base() {
        for (base, _) in BASES {
            let line = format!("extends: {base}");
            let used = PRESETS.iter().chain(BASES).any(|(_, t)| t.lines().any(|l| l.trim_start().starts_with(&line)));
            assert!(used, "no preset extends {base}");
        }
    }
}
