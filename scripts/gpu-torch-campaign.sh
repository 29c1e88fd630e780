#!/usr/bin/env bash
# The PyTorch campaign on an NVIDIA GPU (validation/gpu/): run it on a machine with the GPU, python3, PyTorch
# and NumPy, from the repository root, with a built mmbench (BIN, default target/release/mmbench). Results go
# to OUT (default validation/gpu/new). Steps, each its own argument so that they can be split over sessions:
#
#   check      every workload checked against the CPU reference on the GPU (strict fp32, reduced size)
#   calibrate  the microbenchmark suite and the eager probes, in strict fp32 and in PyTorch's default math
#   runs       the nine workloads at batch 1, 8, 32 and their default, full size, in both math modes,
#              saved as `run --format json` files and compared with the calibrations just fitted
#
#   bash scripts/gpu-torch-campaign.sh check calibrate runs
set -euo pipefail
BIN=${BIN:-target/release/mmbench}
OUT=${OUT:-validation/gpu/new}
WORKLOADS="av-mnist mm-imdb cmu-mosei sarcasm medical-vqa medical-seg mujoco-push vision-touch transfuser"
mkdir -p "$OUT"

for step in "$@"; do
  case "$step" in
    check)
      mkdir -p "$OUT/check"
      for w in $WORKLOADS; do
        "$BIN" run "$w" --backend torch --device cuda --math fp32 --scale 0.25 --batch 2 --iters 2 --check \
          --format json --out "$OUT/check/$w.json" || echo "check failed: $w"
      done
      ;;
    calibrate)
      for math in fp32 default; do
        "$BIN" calibrate --backend torch --device cuda --math "$math" --passes 2 \
          --raw "$OUT/calibration-$math-raw.json" --out "$OUT/calibrated-$math.yaml" > "$OUT/calibration-$math.txt"
      done
      ;;
    runs)
      for math in fp32 default; do
        for w in $WORKLOADS; do
          batches=$("$BIN" info "$w" --format json | python3 -c 'import json,sys; print(",".join(map(str, sorted({1, 8, 32, json.load(sys.stdin)["batch"]}))))')
          "$BIN" validate "$w" --hardware "$OUT/calibrated-$math.yaml" --backend torch --device cuda --math "$math" \
            --batch "$batches" --iters 10 --save-runs "$OUT/runs-$math" --format csv \
            --out "$OUT/validate-$math-$w.csv" || echo "validate failed: $w ($math)"
        done
      done
      ;;
    *)
      echo "unknown step $step (check, calibrate, runs)" >&2
      exit 2
      ;;
  esac
done
