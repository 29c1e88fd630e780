//! Hardware presets embedded in the binary from `hardware/*.yaml`.

/// (name, YAML text) of every preset.
pub static PRESETS: &[(&str, &str)] = &[
    ("a100", include_str!("../../hardware/a100.yaml")),
    ("jetson-agx-orin", include_str!("../../hardware/jetson-agx-orin.yaml")),
    ("xeon-8380", include_str!("../../hardware/xeon-8380.yaml")),
];

/// The hardware used when a command names none.
pub const DEFAULT_HARDWARE: &str = "a100";

pub fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}
