#!/usr/bin/env bash
# The GPU path, checked in one call of at most six minutes on a machine with an NVIDIA GPU and
# no network, with that machine's own python3 and torch (PYTHONPATH=., nothing installed but
# the small wheels in ./gpu-wheels that it lacks: bench/gpu_wheels.sh builds them):
#   1. speed at batch 128, project vs naive, for each setup: float32, auto (eager: float32
#      with TF32 matmuls) and bfloat16;
#   2. slow mode (10,000 iterations) with auto + torch.compile (CUDA graphs, bfloat16): once
#      with a cold compile cache and once warm; then eager float32; each kept for scoring;
#   3. the gpu tests (tests/gpu, and the CUDA equivalence tests);
#   4. the scores of both slow-mode models (10,000 samples, the cached MNIST classifier).
# Needs ./data with MNIST and data/classifiers (the repository's `make setup` makes both).
#
#   bash bench/gpu_check.sh                    # results in $OUT, else runs/gpu-check-<date>
#   GPU_CHECK_SMOKE=1 bash bench/gpu_check.sh  # the same steps, tiny, on the CPU (a test)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
SMOKE=${GPU_CHECK_SMOKE:-0}
if [[ $SMOKE == 1 ]]; then  # the script's path, cheaply: the tiny networks, a few iterations,
    # eager (compiling on a CPU takes minutes), batch 16; bfloat16 is left out: on a CPU without
    # bfloat16 instructions even a few iterations of it take minutes
    DEVICE=cpu REPEATS=2 PER_REPEAT=1 WARMUP=1 SLOW=8 SAMPLES=500 SLOW_LIMIT=120
    PRECISIONS=(float32 auto)
    COMPILE=() BATCH=(--batch-size 16 --network-size tiny)
else
    DEVICE=cuda REPEATS=6 PER_REPEAT=20 WARMUP=5 SLOW=10000 SAMPLES=10000 SLOW_LIMIT=150
    PRECISIONS=(float32 auto bfloat16)
    COMPILE=(--compile) BATCH=(--batch-size 128)
fi
OUT=${OUT:-runs/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
declare -a SUMMARY=()

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, keep going on failure
    local name=$1 limit=$2
    shift 2
    echo -e "\n=== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
    local status=$?
    SUMMARY+=("$(printf '%-22s exit %-3s %4ss' "$name" "$status" $((SECONDS - start)))")
    return 0
}

# the wheels this machine lacks, into a folder of their own on PYTHONPATH
DEPS="$OUT/deps"
mkdir -p "$DEPS"
for wheel in gpu-wheels/*.whl; do
    [[ -e $wheel ]] || break
    module=$(basename "$wheel" | cut -d- -f1 | tr '[:upper:]' '[:lower:]')
    [[ $module == pillow ]] && module=PIL
    if ! "$PY" -c "import $module" 2>/dev/null; then
        "$PY" -m pip install --quiet --no-deps --no-index --target "$DEPS" "$wheel" \
            || echo "could not install $wheel" >&2
    fi
done
export PYTHONPATH=".:$DEPS${PYTHONPATH:+:$PYTHONPATH}"

{
    "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch",
        torch.__version__, "cuda", torch.version.cuda, "device",
        torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")'
    [[ $SMOKE == 1 ]] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
} 2>&1 | tee "$OUT/machine.txt"
if [[ $SMOKE != 1 ]] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'
then
    echo "no CUDA device visible to torch: nothing to check here" >&2
    exit 1
fi

SPEED=("$PY" -m bench.train_speed --device "$DEVICE" --data-dir data --no-sizes "${BATCH[@]}")
QUICK=(--repeats "$REPEATS" --iterations-per-repeat "$PER_REPEAT" --warmup "$WARMUP")
for precision in "${PRECISIONS[@]}"; do
    step "speed-$precision" 60 "${SPEED[@]}" "${QUICK[@]}" --precision "$precision" \
        --json-out "$OUT/speed-$precision.json"
done

FULL=(--repeats 2 --iterations-per-repeat 1 --warmup 1 --full-run "$SLOW")
export TORCHINDUCTOR_CACHE_DIR="$OUT/inductor-cache"  # empty: the first compile is cold
step slow-compiled-cold "$SLOW_LIMIT" "${SPEED[@]}" "${FULL[@]}" "${COMPILE[@]}" \
    --keep-run "$OUT/run-compiled" --json-out "$OUT/slow-compiled-cold.json"
step slow-compiled-warm "$SLOW_LIMIT" "${SPEED[@]}" "${FULL[@]}" "${COMPILE[@]}" \
    --json-out "$OUT/slow-compiled-warm.json"
step slow-eager-float32 "$SLOW_LIMIT" "${SPEED[@]}" "${FULL[@]}" --precision float32 \
    --keep-run "$OUT/run-eager-float32" --json-out "$OUT/slow-eager-float32.json"

TESTS=(tests/gpu tests/shared_models/test_equivalence.py)
if [[ $SMOKE == 1 ]]; then
    step tests 120 "$PY" -m pytest -q -p no:cacheprovider --collect-only "${TESTS[@]}" -m gpu
else
    step tests 120 "$PY" -m pytest -q -p no:cacheprovider -rs -m gpu "${TESTS[@]}"
fi

for run in compiled eager-float32; do
    step "score-$run" 60 "$PY" -m bench.score_run "$OUT/run-$run" --n "$SAMPLES" \
        --data-dir data
done

echo -e "\n=== summary ($OUT)"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
