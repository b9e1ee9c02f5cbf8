"""The project's procedural training data: cartoon faces with named ground-truth landmarks.

`FaceDataset(resolution, seed)[index]` is deterministic: face `index` of dataset `seed` is the same
image and landmarks on every machine and every run.
"""

import numpy as np
import torch

from draggan_fast.stylegan.dataset.faces import (
    LANDMARK_NAMES,
    FaceParams,
    face_geometry,
    sample_face_params,
)
from draggan_fast.stylegan.dataset.render import check_resolution, part_colours, render_face

__all__ = [
    "LANDMARK_NAMES",
    "FaceDataset",
    "FaceParams",
    "face_geometry",
    "face_params",
    "part_colours",
    "render_face",
    "sample_face_params",
]


def face_params(seed: int, index: int) -> FaceParams:
    """The parameters of face `index` of dataset `seed`."""
    if index < 0 or seed < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return sample_face_params(np.random.default_rng([int(seed), int(index)]))


class FaceDataset(torch.utils.data.Dataset):
    """Face `index` -> (image float32 [3, R, R] in [-1, 1], landmarks float32 [K, 2] (x, y) px).

    Unbounded: `length` only sets `len()` for samplers; any index >= 0 is valid.
    """

    def __init__(self, resolution: int = 64, seed: int = 0, length: int = 1 << 30):
        self.resolution = check_resolution(int(resolution))
        self.seed = int(seed)
        self.length = int(length)

    def __len__(self):
        return self.length

    def render(self, index: int):
        """(image uint8 [R, R, 3], landmarks float32 [K, 2]) of face `index`."""
        return render_face(face_params(self.seed, index), self.resolution)

    def __getitem__(self, index):
        image, landmarks = self.render(int(index))
        pixels = torch.from_numpy(image.copy()).permute(2, 0, 1)  # [3, R, R] uint8
        return pixels.float() / 127.5 - 1.0, torch.from_numpy(landmarks)
