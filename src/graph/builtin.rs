//! Workloads embedded in the binary from `graphs/*.yaml`, so `mmbench predict av-mnist` works anywhere.

/// (name, YAML text) of every built-in workload, in MMBench's order.
pub static WORKLOADS: &[(&str, &str)] = &[
    ("av-mnist", include_str!("../../graphs/av-mnist.yaml")),
    ("mm-imdb", include_str!("../../graphs/mm-imdb.yaml")),
    ("cmu-mosei", include_str!("../../graphs/cmu-mosei.yaml")),
    ("sarcasm", include_str!("../../graphs/sarcasm.yaml")),
    ("medical-vqa", include_str!("../../graphs/medical-vqa.yaml")),
    ("medical-seg", include_str!("../../graphs/medical-seg.yaml")),
    ("mujoco-push", include_str!("../../graphs/mujoco-push.yaml")),
    ("vision-touch", include_str!("../../graphs/vision-touch.yaml")),
    ("transfuser", include_str!("../../graphs/transfuser.yaml")),
];

/// The YAML text of a built-in workload.
pub fn workload_text(name: &str) -> Option<&'static str> {
    WORKLOADS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of the built-in workloads.
pub fn workload_names() -> impl Iterator<Item = &'static str> {
    WORKLOADS.iter().map(|(n, _)| *n)
}
