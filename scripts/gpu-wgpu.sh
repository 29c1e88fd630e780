#!/usr/bin/env bash
# wgpu (mmbench's own WGSL kernels) on an NVIDIA GPU through Vulkan, on a machine whose image has the NVIDIA
# driver but no Vulkan loader (the lent GPU machines). Steps, each its own argument:
#
#   fetch   (on a Debian machine with network) download the loader packages into .gl/: libvulkan1 and the
#           GL vendor-neutral dispatch libraries NVIDIA's Vulkan driver links against
#   setup   (on the GPU machine, as root) unpack them into / and point the loader at NVIDIA's ICD file
#   smoke      av-mnist on the NVIDIA adapter, checked against the CPU reference at reduced size, then timed
#              at batch 1; output under OUT (default validation/wgpu-gpu/new)
#   bench      `cargo bench --bench exec`'s summary on the NVIDIA adapter (BENCH_BIN: the bench binary, built
#              here with `cargo bench --bench exec --no-run`): wgpu matmul at 1024³ and 4096³ beside cuBLAS,
#              dispatch overhead, av-mnist in wgpu beside PyTorch eager
#   check      every workload (WORKLOADS) checked against the CPU reference at reduced size, CHECK_S seconds each
#   calibrate  the microbenchmark suite in two passes, raw data kept
#   runs       the workloads at full size at BATCHES, saved, predicted on the calibration just fitted (or on
#              CAL), RUN_S seconds per workload
#
#   bash scripts/gpu-wgpu.sh fetch                                # here
#   bash scripts/gpu-wgpu.sh setup smoke bench check calibrate runs   # there, with .gl/, mmbench (BIN), BENCH_BIN
#
# `setup` exports VK_DRIVER_FILES for the steps after it in the same invocation; in another shell, export it
# again (the path it chose is printed). On the lent H100 (2026-12-07) libvulkan1 alone gave "no GPU adapter
# found"; with the full package set below wgpu opened the H100 and ran every step (validation/wgpu-gpu/).
set -euo pipefail
BIN=${BIN:-target/release/mmbench}
OUT=${OUT:-validation/wgpu-gpu/new}
WORKLOADS=${WORKLOADS:-"av-mnist mm-imdb cmu-mosei sarcasm medical-vqa medical-seg mujoco-push vision-touch transfuser"}
BATCHES=${BATCHES:-1,8,32}
CHECK_S=${CHECK_S:-25}
RUN_S=${RUN_S:-120}
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
    bench)
      mkdir -p "$OUT"
      MMBENCH_ADAPTER=nvidia MMBENCH_SUMMARY_ONLY=1 "${BENCH_BIN:?name the bench binary in BENCH_BIN}" --bench > "$OUT/bench.txt" 2>&1 \
        || echo "bench failed: see $OUT/bench.txt"
      ;;
    check)
      mkdir -p "$OUT/check"
      for w in $WORKLOADS; do
        timeout "$CHECK_S" "$BIN" run "$w" --adapter nvidia --scale 0.25 --batch 2 --iters 2 --check --format json \
          --out "$OUT/check/$w.json" 2> "$OUT/check/$w.err" || echo "check failed or timed out: $w"
      done
      ;;
    calibrate)
      mkdir -p "$OUT"
      "$BIN" calibrate --adapter nvidia --passes 2 --raw "$OUT/calibration-raw.json" --out "$OUT/calibrated.yaml" \
        > "$OUT/calibration.txt" 2>&1
      ;;
    runs)
      mkdir -p "$OUT/runs"
      cal=${CAL:-$OUT/calibrated.yaml}
      for w in $WORKLOADS; do
        timeout "$RUN_S" "$BIN" validate "$w" --hardware "$cal" --adapter nvidia --batch "$BATCHES" --iters 5 \
          --save-runs "$OUT/runs" --format csv --out "$OUT/validate-$w.csv" 2> "$OUT/validate-$w.err" || echo "runs failed or timed out: $w"
      done
      ;;
    *)
      echo "unknown step $step (fetch, setup, smoke, bench, check, calibrate, runs)" >&2
      exit 2
      ;;
  esac
done
