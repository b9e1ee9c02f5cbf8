#!/usr/bin/env bash
# Train the default model on a CUDA machine for a fixed number of minutes.
#
#   scripts/gpu_train.sh MINUTES [RESUME_CHECKPOINT.json] [extra `draggan-fast train` flags...]
#
# Runs from a copy of the repository without installing it (the package is put on PYTHONPATH
# through a folder of links), trains `draggan-fast train` for MINUTES (checkpoint every minute,
# graceful stop, then a hard `timeout` as a safety net), and leaves in $OUT (default ./runs/gpu):
#   generator.safetensors   G_ema in the package's generator format (draggan_fast/assets/)
#   checkpoint.safetensors  the full training state (if it fits the 16 MB return limit)
#   checkpoint.json         its config and counters (resume with it as RESUME_CHECKPOINT)
#   samples-latest.png      G_ema on seeds 0..63
#   log.jsonl, train.log    per-checkpoint stats and the whole console output
#   detector.safetensors, detector.log   with DETECTOR_STEPS=N: the landmark detector, trained
#                           afterwards for N steps (stylegan/landmarks_train.py)
# Other settings (environment): BATCH (128), DATA_POOL (200000 faces), KIMG, RUN_DIR, PYTHON.
# Without RESUME_CHECKPOINT it starts a new run with the default architecture (64x64,
# channel_max 64, the same as the CPU run, so either can resume the other).
set -euo pipefail

MINUTES=${1:?usage: scripts/gpu_train.sh MINUTES [RESUME_CHECKPOINT.json] [train flags...]}
shift
RESUME=""
if [[ $# -gt 0 && $1 != --* ]]; then
    RESUME=$1
    shift
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/runs/gpu}
RUN_DIR=${RUN_DIR:-/tmp/draggan-gpu-run}
PYTHON=${PYTHON:-python3}
BATCH=${BATCH:-128}
mkdir -p "$OUT" "$RUN_DIR"

# shellcheck source=scripts/lib_pythonpath.sh
source "$REPO/scripts/lib_pythonpath.sh"
use_package_shim
export PYTHONUNBUFFERED=1
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000

"$PYTHON" - <<'EOF' 2>&1 | tee "$OUT/train.log"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
EOF

RESUME_FLAGS=()
if [[ -n $RESUME ]]; then
    RESUME_FLAGS=(--resume "$RESUME")
fi
# run_train [extra flags...]: one `draggan-fast train` invocation, its output appended to the log
run_train() {
    timeout --signal=TERM --kill-after=60 "$(( ${TRAIN_MINUTES%.*} * 60 + 240 ))" \
        "$PYTHON" -m draggan_fast train --outdir "$RUN_DIR" --minutes "$TRAIN_MINUTES" \
        --checkpoint-minutes 1 --sample-kimg 100 --batch "$BATCH" \
        --ema-kimg "$((BATCH * 10 / 32))" --data-pool "${DATA_POOL:-200000}" \
        --kimg "${KIMG:-100000}" --export "$OUT/generator.safetensors" "$@" 2>&1 \
        | tee -a "$OUT/train.log"
    return "${PIPESTATUS[0]}"
}
set +e
STARTED=$(date +%s)
TRAIN_MINUTES=$MINUTES
run_train "${RESUME_FLAGS[@]}" "$@"
STATUS=$?
LEFT_SECONDS=$(( ${MINUTES%.*} * 60 - $(date +%s) + STARTED ))
if [[ $STATUS -ne 0 && ! -f $RUN_DIR/checkpoint.json && $LEFT_SECONDS -ge 90 ]]; then
    echo "training failed (status $STATUS) before its first checkpoint; retrying in float32" \
        "for the $LEFT_SECONDS s left" | tee -a "$OUT/train.log"
    TRAIN_MINUTES=$(( LEFT_SECONDS / 60 ))
    run_train "${RESUME_FLAGS[@]}" --fp16-res 0 "$@"
    STATUS=$?
fi
set -e

if [[ ! -f $OUT/generator.safetensors && -f $RUN_DIR/checkpoint.json ]]; then
    echo "training ended with status $STATUS; exporting G_ema from the last checkpoint" \
        | tee -a "$OUT/train.log"
    "$PYTHON" -c "import sys; from draggan_fast.stylegan.training.export import export_checkpoint;
export_checkpoint(sys.argv[1], sys.argv[2])" "$RUN_DIR/checkpoint.json" "$OUT/generator.safetensors"
fi
for name in checkpoint.json samples-latest.png log.jsonl; do
    [[ -f $RUN_DIR/$name ]] && cp "$RUN_DIR/$name" "$OUT/"
done
CHECKPOINT_BYTES=$(stat -c %s "$RUN_DIR/checkpoint.safetensors" 2>/dev/null || echo 0)
if (( CHECKPOINT_BYTES > 0 && CHECKPOINT_BYTES < 16000000 )); then
    cp "$RUN_DIR/checkpoint.safetensors" "$OUT/"
else
    echo "checkpoint.safetensors ($CHECKPOINT_BYTES bytes) not copied: over the 16 MB return limit" \
        | tee -a "$OUT/train.log"
fi
if [[ -n ${DETECTOR_STEPS:-} ]]; then
    "$PYTHON" -m draggan_fast.stylegan.landmarks_train --out "$OUT/detector.safetensors" \
        --steps "$DETECTOR_STEPS" --batch "${DETECTOR_BATCH:-64}" --pool "${DETECTOR_POOL:-100000}" \
        2>&1 | tee "$OUT/detector.log" || echo "detector training failed"
fi
ls -l "$OUT"
exit "$STATUS"
