"""Tiny generators for the session tests: real architecture, a few channels, fast on the CPU."""

import pytest
import torch

from draggan_fast.stylegan import Generator


def tiny_generator(img_resolution=32, seed=0, **kwargs):
    torch.manual_seed(seed)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=img_resolution, channel_base=512,
        channel_max=16, **kwargs,
    )  # fmt: skip
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def tiny_G():
    return tiny_generator()
