"""Render many faces at once in worker processes: a fixed pool of training images in memory.

Used where the trainer outruns on-the-fly rendering (a GPU): faces 0..count-1 of dataset `seed`,
rendered by `processes` forked workers that return plain uint8 arrays through pipes (no shared
memory segments, which containers often cap).
"""

import multiprocessing
import os

import numpy as np
import torch

from draggan_fast.stylegan.dataset import LANDMARK_NAMES, face_params, render_face

CHUNK = 2048


def _render_range(task):
    resolution, seed, start, stop = task
    images = np.empty([stop - start, resolution, resolution, 3], dtype=np.uint8)
    landmarks = np.empty([stop - start, len(LANDMARK_NAMES), 2], dtype=np.float32)
    for offset, index in enumerate(range(start, stop)):
        images[offset], landmarks[offset] = render_face(face_params(seed, index), resolution)
    return images, landmarks


def render_pool(resolution: int, seed: int, count: int, processes: int | None = None):
    """Faces 0..count-1 of dataset `seed` (the same as FaceDataset's): images uint8
    [count, 3, R, R] and landmarks float32 [count, K, 2] (x, y) pixels."""
    if count < 1:
        raise ValueError(f"pool size must be >= 1, got {count}")
    tasks = [
        (resolution, seed, start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)
    ]
    processes = max(1, min(processes or os.cpu_count() or 1, len(tasks)))
    if processes == 1:
        chunks = [_render_range(task) for task in tasks]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as workers:
            chunks = workers.map(_render_range, tasks)
    images = torch.from_numpy(np.concatenate([chunk[0] for chunk in chunks]))
    landmarks = torch.from_numpy(np.concatenate([chunk[1] for chunk in chunks]))
    return images.permute(0, 3, 1, 2).contiguous(), landmarks
