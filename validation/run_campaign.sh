#!/bin/bash
# The validation campaign of validation/README.md: calibrate on microbenchmarks only, then predict and measure
# all nine workloads at three batch sizes at a tenth of their input sizes on the local wgpu adapter.
#
# A CPU adapter shares its cores with everything else on the machine, and this one's speed drifts by up to 2x
# over minutes. So calibration and workload runs are interleaved: three rounds, each one pass over the
# microbenchmarks then one pass over the workloads. Each microbenchmark and each configuration keeps its
# fastest pass, so both sides of the comparison sample the same spells of the machine.
# Usage (from the repository root): bash validation/run_campaign.sh [ROUNDS]   (default 6)
# Rounds already in validation/passes are kept, so an interrupted or short campaign can be extended; remove
# validation/passes to start over (and after any change to the kernels or the executor: changes to the cost
# model only need the last two steps, which refit the saved measurements). Every pass's runs stay in
# validation/passes/runs (not committed); validation/runs gets the run each configuration is compared with.
set -euo pipefail
rounds=${1:-6}
cargo build --release
mm=target/release/mmbench
out=validation
workloads="av-mnist mm-imdb cmu-mosei sarcasm medical-vqa medical-seg mujoco-push vision-touch transfuser"
configs=(--scale 0.1 --batch 1,2,4)

mkdir -p $out/passes
for r in $(seq 1 "$rounds"); do
    [ -e $out/passes/results-$r.txt ] && continue
    # 1. One pass over the microbenchmarks (never the workloads), raw measurements kept.
    $mm calibrate --passes 1 --out $out/passes/calibration-$r.yaml --raw $out/passes/calibration-$r-raw.json \
        > $out/passes/calibration-$r.txt
    # 2. One pass over every configuration, saved as `run --format json` (predicted with this pass's fit only
    #    for the log).
    $mm validate $workloads --hardware $out/passes/calibration-$r.yaml "${configs[@]}" --iters 3 --warmup 1 \
        --save-runs $out/passes/runs/pass$r > $out/passes/results-$r.tmp
    mv $out/passes/results-$r.tmp $out/passes/results-$r.txt
    rm $out/passes/calibration-$r.yaml
    tail -2 $out/passes/results-$r.txt
done

# 3. The fit of all passes together (each microbenchmark at its fastest), and its raw measurements.
raws=$(ls $out/passes/calibration-*-raw.json | paste -sd, -)
$mm calibrate --from-raw "$raws" --out $out/lavapipe.yaml --raw $out/calibration-raw.json | tee $out/calibration.txt

# 4. Predictions against each configuration's fastest pass: table, CSV and plot, from the saved runs; the
#    fastest passes are kept in validation/runs.
measured=$(ls $out/passes/runs/pass*/*.json | paste -sd, -)
rm -rf $out/runs
$mm validate $workloads --hardware $out/lavapipe.yaml "${configs[@]}" --measured "$measured" --save-runs $out/runs \
    --plot $out/scatter.svg --format csv --out $out/results.csv
$mm validate $workloads --hardware $out/lavapipe.yaml "${configs[@]}" --measured "$(ls $out/runs/*.json | paste -sd, -)" \
    > $out/results.txt
cat $out/results.txt
