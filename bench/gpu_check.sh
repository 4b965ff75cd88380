#!/usr/bin/env bash
# The training GPU path, checked in one go on a machine with an NVIDIA GPU (about 8 minutes):
#   1. project vs naive at batch 128 (default: bfloat16 autocast, channels-last, fused Adam)
#      and the batch-size table;
#   2. the same in float32, so precision and the other changes can be told apart;
#   3. torch.compile (CUDA graphs) vs naive, then a whole slow-mode run (10,000 iterations
#      at batch 128) with it;
#   4. a whole slow-mode run without compile (what `dcgan train --slow` does);
#   5. the equivalence tests, CUDA variants included (float32 eager and compiled, bfloat16).
#
#   bash bench/gpu_check.sh            # from the repository root, with MNIST in ./data
#                                      # (the tests read it there; the machine may be offline)
#
# Installs nothing when .venv exists; otherwise creates it with `pip install -e .[dev]`.
# Every step has its own time limit; a failing step is reported and the next one still runs.
# Results (logs and JSON) go to runs/gpu-check-<date>/; the summary is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
if [[ ! -x $PY ]]; then
    python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' || exit 1
fi
if ! $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "no CUDA device visible to torch: nothing to check here" >&2
    exit 1
fi
if ! $PY -c "from pathlib import Path; from shared_models.data import load_dataset; \
load_dataset('mnist', Path('data'), fetch=False)"; then
    echo "MNIST is not in ./data (run '.venv/bin/dcgan data' where online, copy data/)" >&2
    exit 1
fi

OUT=runs/gpu-check-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
declare -a SUMMARY=()

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo -e "\n=== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local status=${PIPESTATUS[0]}
    SUMMARY+=("$(printf '%-16s exit %-3s %4ss' "$name" "$status" $((SECONDS - start)))")
}

SPEED=("$PY" -m bench.train_speed --device cuda --data-dir data)
step compare-auto 90 "${SPEED[@]}" --repeats 10 --iterations-per-repeat 20 --warmup 5 \
    --json-out "$OUT/compare-auto.json"
step compare-fp32 45 "${SPEED[@]}" --precision float32 --no-sizes --repeats 10 \
    --iterations-per-repeat 20 --warmup 5 --json-out "$OUT/compare-fp32.json"
step compiled-slow 210 "${SPEED[@]}" --compile --no-sizes --repeats 6 \
    --iterations-per-repeat 20 --warmup 5 --full-run 10000 --json-out "$OUT/compiled-slow.json"
step eager-slow 100 "${SPEED[@]}" --no-sizes --repeats 2 --iterations-per-repeat 10 \
    --full-run 10000 --json-out "$OUT/eager-slow.json"
# the CPU compile test (marked slow) is left out: CUDA's compiled variant covers the path
step equivalence 120 "$PY" -m pytest -q -rs -m "not slow" tests/shared_models/test_equivalence.py

echo -e "\n=== summary ($OUT)"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
