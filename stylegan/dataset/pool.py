"""Training batches of faces, rendered on the fly or from a pool rendered once in parallel.

The pool is for a trainer that outruns on-the-fly rendering (a GPU): faces 0..count-1 of dataset
`seed`, rendered by `processes` forked workers that return plain uint8 arrays through pipes (no
shared memory segments, which containers often cap), then kept on the device.
"""

import multiprocessing
import os

import numpy as np
import torch

from draggan_fast.stylegan.dataset import LANDMARK_NAMES, FaceDataset, face_params, render_face

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


class FaceBatches:
    """Consecutive faces of dataset `seed` as batches on `device`: rendered on the fly, or (with
    pool_size N > 0) taken modulo N from faces 0..N-1, rendered once here and kept on the device."""

    def __init__(self, resolution, seed, device, pool_size=0, processes=None):
        self.dataset = FaceDataset(resolution, seed)
        self.device = torch.device(device)
        self.pool_size = pool_size
        self._pool = None  # (uint8 [N, 3, R, R], float32 [N, K, 2]) on the device
        if pool_size > 0:
            images, landmarks = render_pool(resolution, seed, pool_size, processes)
            self._pool = images.to(self.device), landmarks.to(self.device)

    def batch(self, start: int, count: int):
        """Faces start .. start + count - 1: (images float32 [B, 3, R, R] in [-1, 1],
        landmarks float32 [B, K, 2] (x, y) pixels), on the device."""
        if self._pool is None:
            images, landmarks = zip(*(self.dataset[index] for index in range(start, start + count)))
            return torch.stack(images).to(self.device), torch.stack(landmarks).to(self.device)
        indices = torch.arange(start, start + count, device=self.device) % self.pool_size
        pool_images, pool_landmarks = self._pool
        return pool_images[indices].float() / 127.5 - 1.0, pool_landmarks[indices]
