//! What `run` and `calibrate` execute on. The wgpu executor lives in [`crate::exec`]; the PyTorch runner
//! (a Python package under `python/`, driven through the exported graph JSON) lives in [`torch`]. Both give
//! a [`crate::exec::Measured`] run, so every report, `validate` and `--trace` read either.

pub mod torch;

/// The backends a workload can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// mmbench's own WGSL kernels on a Vulkan, Metal or DX12 adapter.
    #[default]
    Wgpu,
    /// PyTorch eager, as the models' own code runs (CUDA or CPU).
    Torch,
}
