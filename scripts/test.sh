#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian/Ubuntu machine. Installs what the tests need first: the
# lavapipe Vulkan driver (Debian's mesa-vulkan-drivers), which gives wgpu a real adapter on the CPU, so the
# GPU tests run (and fail, not skip, when no adapter exists).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "installing the lavapipe Vulkan driver (mesa-vulkan-drivers)..."
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

# Release mode: the GPU tests execute real kernels on lavapipe; benches and examples are built and run once.
cargo test --release --all-targets
# The crate must also build without the wgpu backend (everything but `run` keeps working).
cargo check --no-default-features --all-targets
