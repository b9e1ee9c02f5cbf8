#!/usr/bin/env bash
# Drag-step benchmarks on a CUDA machine, for benches/RESULTS.md (issue 6).
#
#   scripts/gpu_bench.sh            (from the repository root; about 5 minutes on an H100/H200)
#
# Installs the package if `import draggan_fast.bench` fails (without compiled parts:
# DRAGGAN_FAST_NO_EXT=1 unless set; set it to 0 to build csrc/ too), then runs, each with a hard timeout so one failure never eats the rest:
#   1. draggan-fast bench --arch ffhq512 (fast vs reference, eager, with a profiler trace)
#   2. draggan-fast bench --arch 1024 --handles 4 --mask
#   3. draggan-fast bench --arch ffhq512 --compile
#   4. pytest benches/bench_step.py --benchmark-only (the CUDA groups: 256, 512, 1024 px)
#   5. the bench tool's own tests that need no fixtures (incl. the CUDA phase-breakdown test)
# and leaves two files in $OUT (default ./runs/gpu-bench): gpu-bench.log (everything printed)
# and gpu-bench.tar.gz (the JSON reports, the Chrome traces, the pytest-benchmark JSON).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/runs/gpu-bench}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
LOG=$OUT/gpu-bench.log
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$REPO" || exit 1

step() {  # step SECONDS LABEL COMMAND...: run with a timeout, log it, never stop the script
    local seconds=$1 label=$2
    shift 2
    echo "=== $label: $*" | tee -a "$LOG"
    timeout --kill-after=30 "$seconds" "$@" 2>&1 | tee -a "$LOG"
    echo "=== $label: exit ${PIPESTATUS[0]}" | tee -a "$LOG"
}

step 60 machine nvidia-smi -L
step 30 versions "$PYTHON" -c "import torch, triton; print('torch', torch.__version__, \
'triton', triton.__version__, torch.cuda.get_device_name(0))"
if ! "$PYTHON" -c "import draggan_fast.bench.runner" 2>/dev/null; then
    export DRAGGAN_FAST_NO_EXT=${DRAGGAN_FAST_NO_EXT:-1}
    step 600 install "$PYTHON" -m pip install -q --no-deps --no-build-isolation -e .
fi
BENCH=("$PYTHON" -m draggan_fast bench --device cuda --steps 30 --warmup 5)

step 240 "ffhq512 eager" "${BENCH[@]}" --arch ffhq512 --profile "$WORK/traces" \
    --json "$WORK/bench-ffhq512.json"
step 240 "1024 eager, 4 handles, mask" "${BENCH[@]}" --arch 1024 --handles 4 --mask \
    --json "$WORK/bench-1024-mask.json"
step 420 "ffhq512 compiled" "${BENCH[@]}" --arch ffhq512 --compile \
    --json "$WORK/bench-ffhq512-compile.json"
step 300 "benches: drag step" "$PYTHON" -m pytest benches/bench_step.py --benchmark-only -q \
    --benchmark-json "$WORK/benches-step.json"
# the bench tool's tests that need no ../shared fixtures, among them the CUDA breakdown test
step 240 "tests/bench" "$PYTHON" -m pytest -q -rs tests/bench/test_trace.py \
    tests/bench/test_stats.py tests/bench/test_report.py tests/bench/test_workload.py

tar -czf "$OUT/gpu-bench.tar.gz" -C "$WORK" .
echo "results: $LOG and $OUT/gpu-bench.tar.gz" | tee -a "$LOG"
