#!/usr/bin/env bash
# GPU checks of the compiled generator ops (issue 5), for a CUDA machine:
#
#   OUT=/some/folder scripts/gpu_check.sh
#
# 1. builds the extension for the local GPU's arch (`pip install --no-build-isolation --no-deps
#    -e .`; falls back to `setup.py build_ext --inplace` if pip cannot), log in build.log;
# 2. `draggan-fast info --json` (build versions, archs, CUDA self-check results) -> info.json;
# 3. tests/csrc/test_ops_cuda.py (CUDA kernels vs references, opcheck, self-checks, generator
#    eager and compiled on CUDA) -> csrc_cuda_pytest.log; the CPU tests -> csrc_cpu_pytest.log;
# 4. CUDA benchmarks, each step under its own timeout so a slow one cannot starve the rest:
#    ops compiled vs reference (eager; for modulated_conv2d the measurement that decides between
#    the fused op and the reference's cuDNN path), the 512 px generator eager (reference vs
#    compiled ops), ops vs the inductor-compiled reference, the generator under inductor
#    -> bench_*.json/.log, and summary.txt (medians side by side per group).
# About 6 minutes on an H100/H200 (most of it nvcc and inductor compilation); every step has
# its own timeout (240 s build, twice if pip fails and setup.py is tried; 150 + 60 s tests;
# 255 s benchmarks).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/runs/gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$REPO"
export PYTHONUNBUFFERED=1

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
    nvcc --version 2>/dev/null | tail -2 \
        || ls /usr/local/cuda/bin/nvcc 2>/dev/null \
        || echo "NO CUDA TOOLKIT FOUND: the CUDA ops cannot be built on this machine"
} 2>&1 | tee "$OUT/environment.txt"

if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST=$("$PYTHON" -c \
        "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    export TORCH_CUDA_ARCH_LIST
fi
export MAX_JOBS=${MAX_JOBS:-16}
start=$(date +%s)
if ! timeout 240 "$PYTHON" -m pip install --no-build-isolation --no-deps -e . \
    >"$OUT/build.log" 2>&1; then
    echo "pip install failed (see build.log); trying setup.py build_ext --inplace"
    timeout 240 "$PYTHON" setup.py build_ext --inplace >>"$OUT/build.log" 2>&1 \
        || echo "BUILD FAILED"
fi
echo "build: $(($(date +%s) - start)) s"
tail -3 "$OUT/build.log"

timeout 60 "$PYTHON" -m draggan_fast info --json >"$OUT/info.json" 2>"$OUT/info.stderr"
timeout 60 "$PYTHON" -m draggan_fast info 2>&1 | tee "$OUT/info.txt"

# CUDA tests first (the part only this machine can check), then the CPU tests on its torch.
timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/csrc/test_ops_cuda.py -rs 2>&1 \
    | tee "$OUT/csrc_cuda_pytest.log" | tail -25
timeout 60 "$PYTHON" -m pytest -q -p no:cacheprovider tests/csrc -rs \
    --ignore tests/csrc/test_ops_cuda.py 2>&1 | tee "$OUT/csrc_cpu_pytest.log" | tail -5

BENCH=(-q -p no:cacheprovider --benchmark-only --benchmark-columns=median,iqr,rounds
       --benchmark-sort=name)
# name, seconds, file, -k expression: cheapest and most decisive first. SIGINT on timeout lets
# pytest-benchmark still write the JSON of what finished.
run_bench() {
    timeout -s INT -k 15 "$2" "$PYTHON" -m pytest "${BENCH[@]}" "$3" -k "$4" \
        --benchmark-json="$OUT/bench_$1.json" 2>&1 | tee "$OUT/bench_$1.log" | tail -40
}
run_bench ops_eager 60 benches/bench_ops.py "cuda and not inductor"
run_bench generator_eager 45 benches/bench_generator.py "cuda and eager"
run_bench ops_inductor 60 benches/bench_ops.py "cuda and inductor and not modulated"
run_bench generator_inductor 90 benches/bench_generator.py "cuda and inductor"

# Side-by-side ratios per benchmark group (the measurement that decides each CUDA op).
"$PYTHON" - "$OUT" <<'PY' 2>&1 | tee "$OUT/summary.txt"
import json, pathlib, sys
from collections import defaultdict

for path in sorted(pathlib.Path(sys.argv[1]).glob("bench_*.json")):
    groups = defaultdict(dict)
    for bench in json.loads(path.read_text())["benchmarks"]:
        groups[bench["group"]][bench["name"].split("[")[1].rstrip("]")] = bench["stats"]["median"]
    print(f"== {path.name}")
    for group, medians in groups.items():
        row = ", ".join(f"{name} {seconds * 1e3:.3f} ms" for name, seconds in sorted(medians.items()))
        print(f"{group}: {row}")
PY
echo "total: $(($(date +%s) - start)) s"
