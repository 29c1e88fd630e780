#!/usr/bin/env bash
# The PyTorch campaign on an NVIDIA GPU (validation/gpu/): run it on a machine with the GPU, python3, PyTorch
# and NumPy, from the repository root, with a built mmbench (BIN, default target/release/mmbench). Results go
# to OUT (default validation/gpu/new). Steps, each its own argument so that they can be split over sessions:
#
#   check      every workload checked against the CPU reference on the GPU (strict fp32, reduced size);
#              CHECK_WORKLOADS narrows the list
#   calibrate  the microbenchmark suite and the eager probes, in each math mode of MATHS
#   runs       the nine workloads at batch 1, 8, 32 and their default, full size, in each math mode of MATHS,
#              saved as `run --format json` files and compared with the calibrations just fitted. The
#              launch-bound workloads (FAST) run in three passes over all their configurations, a minute apart,
#              because the host's speed drifts on the lent machine (av-mnist at batch 1 took 0.91 ms in one
#              pass and 1.76 ms in another); validate keeps each configuration's fastest pass, as calibrate
#              keeps each microbenchmark's.
#
#   bash scripts/gpu-torch-campaign.sh check calibrate runs
#   MATHS=default bash scripts/gpu-torch-campaign.sh runs
#   FAST= WORKLOADS=sarcasm MATHS=default bash scripts/gpu-torch-campaign.sh runs   # one workload
#
# The runs are compared with the descriptions in CAL (default OUT), `calibrated-MATH.yaml`.
set -euo pipefail
BIN=${BIN:-target/release/mmbench}
OUT=${OUT:-validation/gpu/new}
WORKLOADS=${WORKLOADS:-"av-mnist mm-imdb cmu-mosei sarcasm medical-vqa medical-seg mujoco-push vision-touch transfuser"}
FAST=${FAST-"av-mnist cmu-mosei mujoco-push vision-touch"}
CAL=${CAL:-$OUT}
MATHS=${MATHS:-fp32 default}
CHECK_WORKLOADS=${CHECK_WORKLOADS:-$WORKLOADS}
mkdir -p "$OUT"

for step in "$@"; do
  case "$step" in
    check)
      mkdir -p "$OUT/check"
      for w in $CHECK_WORKLOADS; do
        "$BIN" run "$w" --backend torch --device cuda --math fp32 --scale 0.25 --batch 2 --iters 2 --check \
          --format json --out "$OUT/check/$w.json" || echo "check failed: $w"
      done
      ;;
    calibrate)
      for math in $MATHS; do
        "$BIN" calibrate --backend torch --device cuda --math "$math" --passes 2 \
          --raw "$OUT/calibration-$math-raw.json" --out "$OUT/calibrated-$math.yaml" > "$OUT/calibration-$math.txt"
      done
      ;;
    runs)
      batches_of() {  # 1, 8, 32 and each named workload's default batch
        for w in "$@"; do "$BIN" info "$w" --format json; done |
          python3 -c 'import json,sys; d=json.JSONDecoder(); s=sys.stdin.read().strip(); b={1,8,32}
while s: o,i=d.raw_decode(s); b.add(o["batch"]); s=s[i:].strip()
print(",".join(map(str,sorted(b))))'
      }
      for math in $MATHS; do
        # The launch-bound workloads together, three passes over all their configurations (each pass a
        # minute or so after the previous one), at every batch any of them takes by default.
        if [ -n "$FAST" ]; then
          "$BIN" validate $FAST --hardware "$CAL/calibrated-$math.yaml" --backend torch --device cuda --math "$math" \
            --batch "$(batches_of $FAST)" --iters 10 --passes 3 --save-runs "$OUT/runs-$math" --format csv \
            --out "$OUT/validate-$math-fast.csv" || echo "validate failed: $FAST ($math)"
        fi
        for w in $WORKLOADS; do
          case " $FAST " in *" $w "*) continue ;; esac
          "$BIN" validate "$w" --hardware "$CAL/calibrated-$math.yaml" --backend torch --device cuda --math "$math" \
            --batch "$(batches_of "$w")" --iters 10 --save-runs "$OUT/runs-$math" --format csv \
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
