#!/usr/bin/env bash
# Everything CI cannot check, in one run on a CUDA machine (about 9 minutes on an H100/H200):
#
#   OUT=/some/folder DRAGGAN_FAST_SHARED=/folder/holding/fixtures scripts/gpu_checks.sh
#
# 1. builds the compiled ops for the local GPU's arch (`pip install --no-build-isolation
#    --no-deps -e .`) while the drag kernels' tests run their Triton kernels on CUDA (they need
#    no compiled ops; the package is used in place, through lib_pythonpath.sh's shim);
# 2. `draggan-fast info` (build, CUDA self-checks, dispatch per op);
# 3. the CUDA tests and the rest of the suite on this machine's torch (stylegan and its ops, the
#    one dispatch, step with its CUDA graph, session, bench, the trainer's CUDA test), in
#    parallel workers (pytest-xdist);
# 4. benchmarks, alone on the machine, each under its own time limit (SIGINT, so pytest-benchmark
#    still writes what finished): the generator ops (compiled vs reference, eager and
#    inductor-compiled), the drag step (reference,
#    fast with and without its CUDA graph at 256, 512 and 1024 px, with peak memory),
#    `draggan-fast bench` at 512 px with the phase breakdown, the generator eager with each set
#    of compiled ops (the measurement that decides which ops `auto` compiles on CUDA) and
#    inductor-compiled with and without the ops, and the compiled step replayed as a CUDA graph.
# Leaves $OUT/summary.txt (every step's exit status and time, the benchmark medians side by side)
# and $OUT/results.tar.gz (every log and JSON, re-packed after each step). Each step has a time
# limit so a slow one cannot starve the rest, and none runs past DEADLINE seconds from the start
# (default 560: the device tool stops a command at 600 s).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/runs/gpu_checks}
PYTHON=${PYTHON:-python3}
LOGS=$(mktemp -d)
mkdir -p "$OUT"
cd "$REPO" || exit 1
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-16} KINETO_LOG_LEVEL=5
START=$(date +%s)
DEADLINE=${DEADLINE:-560}
SUMMARY=$OUT/summary.txt

note() { echo "[$(($(date +%s) - START)) s] $*" | tee -a "$SUMMARY"; }

step() {  # step SECONDS NAME COMMAND...: run with a time limit into $LOGS/NAME.log; never stops us
    local seconds=$1 name=$2 left=$((DEADLINE - ($(date +%s) - START)))
    shift 2
    [ "$left" -lt "$seconds" ] && seconds=$left
    if [ "$seconds" -lt 15 ]; then
        note "skip $name: the deadline is near"
        return
    fi
    note "start $name (limit $seconds s): $*"
    timeout -s INT -k 15 "$seconds" "$@" >"$LOGS/$name.log" 2>&1
    local status=$?
    note "end $name: exit $status"
    tail -4 "$LOGS/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
    tar -czf "$OUT/results.tar.gz" -C "$LOGS" .
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PYTHON" -c "import sys, torch, triton; print(sys.version.split()[0], 'torch', \
torch.__version__, 'CUDA', torch.version.cuda, 'triton', triton.__version__)"
    nvcc --version | tail -2
    git -C "$REPO" log -1 --format='commit %H %s' 2>/dev/null || echo "commit: not a git checkout"
} 2>&1 | tee "$LOGS/environment.txt" | tee -a "$SUMMARY"

# The toolkit holding the nvcc on PATH, unless CUDA_HOME names one; the CUDA part must build here.
if [ -z "${CUDA_HOME:-}" ] && command -v nvcc >/dev/null; then
    CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    export CUDA_HOME
fi
export DRAGGAN_FAST_CUDA=1
note "CUDA_HOME=${CUDA_HOME:-unset}"
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST=$("$PYTHON" -c \
        "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    export TORCH_CUDA_ARCH_LIST
fi

# 1. The build, and meanwhile the Triton kernels' tests from the source tree.
step 300 build "$PYTHON" -m pip install --no-build-isolation --no-deps -e . &
BUILD=$!
(
    # shellcheck source=scripts/lib_pythonpath.sh
    source "$REPO/scripts/lib_pythonpath.sh"
    use_package_shim "$REPO"
    step 240 tests_kernels "$PYTHON" -m pytest -q -p no:cacheprovider --import-mode=importlib \
        -n 6 -rfEs --timeout 150 tests/kernels
)
wait $BUILD

# 2. What was built and what dispatches where.
step 90 info "$PYTHON" -m draggan_fast info

# 3. The rest of the suite, CUDA tests included.
step 200 tests_rest "$PYTHON" -m pytest -q -p no:cacheprovider -n 12 -rfEs --timeout 150 \
    tests/stylegan tests/test_dispatch.py tests/step tests/session tests/bench \
    tests/train/test_trainer.py -k \
    "not test_trainer or cuda"

# 4. Benchmarks, one at a time.
BENCH=(-q -p no:cacheprovider --benchmark-only --benchmark-columns=median,iqr,rounds
       --benchmark-sort=name)
step 60 bench_ops "$PYTHON" -m pytest "${BENCH[@]}" benches/bench_ops.py \
    -k "cuda and not inductor" --benchmark-json="$LOGS/bench_ops.json"
step 100 bench_step "$PYTHON" -m pytest "${BENCH[@]}" benches/bench_step.py -k cuda \
    --benchmark-json="$LOGS/bench_step.json"
step 70 drag_bench_512 "$PYTHON" -m draggan_fast bench --device cuda --arch ffhq512 \
    --steps 30 --warmup 5 --json "$LOGS/drag_bench_512.json"
step 70 bench_generator "$PYTHON" -m pytest "${BENCH[@]}" benches/bench_generator.py \
    -k "cuda and eager" --benchmark-json="$LOGS/bench_generator.json"
# Last, as the rest of the time allows: torch.compile's first calls take a while.
step 120 drag_bench_512_compiled "$PYTHON" -m draggan_fast bench --device cuda --arch ffhq512 \
    --backend fast --compile --steps 30 --warmup 5 \
    --json "$LOGS/drag_bench_512_compiled.json"

step 150 bench_generator_inductor "$PYTHON" -m pytest "${BENCH[@]}" \
    benches/bench_generator.py -k "cuda and inductor" \
    --benchmark-json="$LOGS/bench_generator_inductor.json"
# Medians side by side per benchmark group.
"$PYTHON" - "$LOGS" <<'PY' 2>&1 | tee -a "$SUMMARY"
import json, pathlib, sys
from collections import defaultdict

for path in sorted(pathlib.Path(sys.argv[1]).glob("bench_*.json")):
    groups = defaultdict(dict)
    try:
        benchmarks = json.loads(path.read_text())["benchmarks"]
    except (ValueError, KeyError) as exc:
        print(f"== {path.name}: unreadable ({exc})")
        continue
    for bench in benchmarks:
        name = bench["name"].split("[", 1)[1].rstrip("]")
        info = bench.get("extra_info", {})
        memory = info.get("peak_cuda_bytes_above_start", info.get("peak_cuda_bytes"))
        suffix = f" ({memory / 2**20:.0f} MiB)" if memory else ""
        groups[bench["group"]][name] = f"{bench['stats']['median'] * 1e3:.3f} ms{suffix}"
    print(f"== {path.name}")
    for group, medians in groups.items():
        print(f"{group}: " + ", ".join(f"{k} {v}" for k, v in sorted(medians.items())))
PY
for name in drag_bench_512 drag_bench_512_compiled; do
    [ -f "$LOGS/$name.log" ] && { echo "== $name"; sed -n '1,40p' "$LOGS/$name.log"; } >>"$SUMMARY"
done
tar -czf "$OUT/results.tar.gz" -C "$LOGS" .
note "done: $SUMMARY and $OUT/results.tar.gz"
