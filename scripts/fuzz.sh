#!/usr/bin/env bash
# Fuzzes mmbench's loaders (workload, hardware, sweep spec, saved run, raw calibration, --set) for MINUTES
# minutes: rounds of the proptest targets in tests/bad_input.rs (`fuzz_*`), each round with CASES mutated
# inputs per target and fresh random seeds. A failure stops the script; proptest shrinks it and keeps the
# seed in tests/bad_input.proptest-regressions, which every later run (CI included) replays first: fix the
# loader, keep the regression file, and add a test that names the input.
#
#   bash scripts/fuzz.sh 60            # an hour
#   CASES=20000 bash scripts/fuzz.sh 5
set -euo pipefail
MINUTES=${1:-10}
CASES=${CASES:-5000}
TARGETS=6
cargo test --release --test bad_input --no-run >/dev/null 2>&1
start=$(date +%s)
end=$((start + MINUTES * 60))
rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
  MMBENCH_FUZZ_CASES=$CASES cargo test --release --test bad_input fuzz -- --test-threads 2 >/tmp/mmbench-fuzz-round.log 2>&1 || {
    cat /tmp/mmbench-fuzz-round.log
    echo "fuzzing found a failure after $rounds rounds (see above and tests/bad_input.proptest-regressions)" >&2
    exit 1
  }
  rounds=$((rounds + 1))
done
elapsed=$(( $(date +%s) - start ))
execs=$((rounds * CASES * TARGETS))
echo "fuzzed $TARGETS targets for ${elapsed} s: $rounds rounds, $execs inputs, $((execs / (elapsed > 0 ? elapsed : 1))) inputs per second, no failure"
