#!/bin/bash
# The validation campaign of validation/README.md: calibrate on microbenchmarks only, then predict and measure
# all nine workloads at three batch sizes at a tenth of their input sizes on the local wgpu adapter.
# Usage (from the repository root): bash validation/run_campaign.sh
set -euo pipefail
cargo build --release
mm=target/release/mmbench
out=validation
workloads="av-mnist mm-imdb cmu-mosei sarcasm medical-vqa medical-seg mujoco-push vision-touch transfuser"

# 1. Calibration: microbenchmarks only (never the workloads), raw measurements kept for refits.
$mm calibrate --out $out/lavapipe.yaml --raw $out/calibration-raw.json | tee $out/calibration.txt

# 2. Measure every configuration once (saved as `run --format json`), predict it, compare.
rm -rf $out/runs
$mm validate $workloads --hardware $out/lavapipe.yaml --scale 0.1 --batch 1,2,4 --iters 7 --warmup 1 \
    --save-runs $out/runs --plot $out/scatter.svg --format csv --out $out/results.csv

# 3. The readable table, from the saved runs (no re-run).
$mm validate $workloads --hardware $out/lavapipe.yaml --scale 0.1 --batch 1,2,4 \
    --measured "$(ls $out/runs/*.json | paste -sd, -)" > $out/results.txt
cat $out/results.txt
