#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian/Ubuntu machine. Installs what the tests need first: the
# lavapipe Vulkan driver (Debian's mesa-vulkan-drivers), which gives wgpu a real adapter on the CPU, so the
# GPU tests run (and fail, not skip, when no adapter exists); and PyTorch for the CPU, so the PyTorch
# backend's tests run (and fail, not skip, without it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "installing the lavapipe Vulkan driver (mesa-vulkan-drivers)..."
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

# The PyTorch backend's tests (its Python runner, and `run --backend torch` on the CPU) need python3 with
# PyTorch, NumPy and pytest. PyPI's Linux wheel of torch (~540 MB) pulls in CUDA's libraries, which `import
# torch` loads even on a CPU; it installs in about two minutes.
if ! python3 -c "import torch, numpy, pytest" >/dev/null 2>&1; then
  echo "installing PyTorch, NumPy and pytest for the PyTorch backend's tests..."
  python3 -m pip install --quiet --disable-pip-version-check torch numpy pytest
fi
(cd python && python3 -m pytest -q tests)

# Release mode: the GPU tests execute real kernels on lavapipe; benches and examples are built and run once.
cargo test --release --all-targets
# The crate must also build without the wgpu backend (everything but `run` keeps working).
cargo check --no-default-features --all-targets
