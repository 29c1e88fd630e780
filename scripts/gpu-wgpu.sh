#!/usr/bin/env bash
# wgpu (mmbench's own WGSL kernels) on an NVIDIA GPU through Vulkan, on a machine whose image has the NVIDIA
# driver but no Vulkan loader (the lent GPU machines). Steps, each its own argument:
#
#   fetch   (on a Debian machine with network) download the loader packages into .gl/: libvulkan1 and the
#           GL vendor-neutral dispatch libraries NVIDIA's Vulkan driver links against
#   setup   (on the GPU machine, as root) unpack them into / and point the loader at NVIDIA's ICD file
#   smoke   av-mnist on the NVIDIA adapter, checked against the CPU reference at reduced size, then timed at
#           batch 1; output under OUT (default validation/wgpu-gpu/new)
#
#   bash scripts/gpu-wgpu.sh fetch                 # here
#   bash scripts/gpu-wgpu.sh setup smoke           # there, with .gl/ and a built mmbench (BIN) carried along
#
# `setup` exports VK_DRIVER_FILES for the steps after it in the same invocation; in another shell, export it
# again (the path it chose is printed). Status: on the lent H100 (2026-12-07) libvulkan1 alone gave "no GPU
# adapter found"; the full package set below has not run there yet (issue #15).
set -euo pipefail
BIN=${BIN:-target/release/mmbench}
OUT=${OUT:-validation/wgpu-gpu/new}
PACKAGES="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"

for step in "$@"; do
  case "$step" in
    fetch)
      mkdir -p .gl /tmp/amd64/partial
      o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
      # shellcheck disable=SC2086
      apt-get $o update
      # shellcheck disable=SC2086
      (cd .gl && apt-get $o download $PACKAGES)
      ;;
    setup)
      for f in .gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
      for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -f "$icd" ]; then
          export VK_DRIVER_FILES=$icd
          break
        fi
      done
      echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-none found}"
      ldconfig -p | grep -i -E "libvulkan|GLX_nvidia|EGL_nvidia" || true
      ;;
    smoke)
      mkdir -p "$OUT"
      VK_LOADER_DEBUG=${VK_LOADER_DEBUG:-error,warn} "$BIN" run av-mnist --adapter nvidia --scale 0.25 --batch 2 --iters 3 --check \
        --format json --out "$OUT/av-mnist-check.json" 2> "$OUT/av-mnist-check.err" || echo "check failed: see $OUT/av-mnist-check.err"
      "$BIN" run av-mnist --adapter nvidia --batch 1 --iters 20 > "$OUT/av-mnist-b1.txt" 2>&1 || echo "run failed: see $OUT/av-mnist-b1.txt"
      ;;
    *)
      echo "unknown step $step (fetch, setup, smoke)" >&2
      exit 2
      ;;
  esac
done
