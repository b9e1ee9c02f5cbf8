"""Seeds as in the official tools, so "seed 0" is the same image here as in DragGAN's GUI."""

import numpy as np
import torch


def z_from_seed(seed: int, z_dim: int = 512) -> torch.Tensor:
    """`numpy.random.RandomState(seed).randn(1, z_dim)` as a float32 tensor [1, z_dim]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    z = np.random.RandomState(int(seed)).randn(1, int(z_dim))
    return torch.from_numpy(z).float()
