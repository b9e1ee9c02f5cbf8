#!/usr/bin/env bash
# GPU checks of the DragSession, for a CUDA machine.
#
#   DRAGGAN_FAST_SHARED=/path/holding/fixtures scripts/gpu_session_checks.sh
#
# 1. tests/session on CUDA: its CUDA tests (test_session_cuda.py: the official 128 px trace on
#    CUDA, CPU == CUDA without fp16 blocks, fp16 blocks + save/resume, the drag CLI with
#    --device cuda; the fast backend against the reference on CUDA; a queued fast run that
#    synchronises only to read done flags) need the fixtures drag_128_ada_*, sg2_128_ada.npz,
#    sg2_64_ada.npz and sg2_64_sg3kw_clamp.npz (~25 MB) under $DRAGGAN_FAST_SHARED/fixtures.
# 2. A smoke run: random generators at 64, 256 and 1024 px, W and W+, three handles and a mask,
#    printing ms/step of the reference backend and peak GPU memory.
# Runs from a copy of the repository without installing it (a folder of links on PYTHONPATH).
# Leaves $OUT/session_pytest.log (OUT defaults to ./runs/gpu_session). About a minute on an H200.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/runs/gpu_session}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
# shellcheck source=scripts/lib_pythonpath.sh
source "$REPO/scripts/lib_pythonpath.sh"
use_package_shim "$REPO"  # the repo root after the shim: the tests package
export PYTHONUNBUFFERED=1
cd "$REPO"

nvidia-smi --query-gpu=name --format=csv,noheader || true
timeout 400 "$PYTHON" -m pytest -q -p no:cacheprovider --import-mode=importlib tests/session -rs 2>&1 \
    | tee "$OUT/session_pytest.log" | tail -25

timeout 300 "$PYTHON" - <<'PY'
import time

import numpy as np
import torch

from draggan_fast import DragSession
from draggan_fast.stylegan import Generator

torch.manual_seed(0)
for resolution, channel_base, channel_max in [(64, 2048, 64), (256, 16384, 256), (1024, 32768, 512)]:
    G = Generator(
        z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, channel_base=channel_base,
        channel_max=channel_max, mapping_kwargs={"num_layers": 8},
    ).eval().requires_grad_(False)
    for latent_space in ["w+", "w"]:
        session = DragSession(G, latent_space=latent_space, lr=2e-3, device="cuda")
        for handle, target in [((0.3, 0.4), (0.4, 0.45)), ((0.7, 0.6), (0.65, 0.5)),
                               ((0.5, 0.9), (0.5, 0.8))]:
            session.add_point(np.multiply(handle, resolution), np.multiply(target, resolution))
        movable = np.zeros([resolution, resolution], bool)
        movable[resolution // 8 : -resolution // 8, resolution // 8 : -resolution // 8] = True
        session.set_mask(movable)
        session.run(3, until_done=False, render_every=3)  # warm-up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = session.run(10, until_done=False, render_every=0)
        torch.cuda.synchronize()
        ms = 1000 * (time.perf_counter() - started) / 10
        finite = all(np.isfinite(list(result.losses.values())))
        print(f"{resolution}px {latent_space}: feature block {session.config.feature_block}, "
              f"{ms:.1f} ms/step ({session.backend}), peak "
              f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, losses finite {finite}, "
              f"image {session.image().shape}")
PY
