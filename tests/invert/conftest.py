"""Fixtures of the inversion tests: a tiny generator and a photo it can make exactly."""

import pytest
import torch

from draggan_fast.inversion.progress import to_uint8
from tests.session.conftest import tiny_generator


@pytest.fixture(scope="module")
def tiny_G():
    G = tiny_generator(img_resolution=32, seed=3)
    with torch.no_grad():  # a non-zero w_avg, as a trained mapping network tracks
        z = torch.randn([256, G.z_dim], generator=torch.Generator().manual_seed(1))
        G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(dim=0))
        for block in G.synthesis.blocks:  # images mostly inside [-1, 1], as a trained G makes
            block.torgb.weight.mul_(0.2)
    return G


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these many tiny steps only lose time to thread hand-offs, and on a
    busy 2-core machine 2 threads make each step tens of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def made_photo(tiny_G):
    """uint8 [32, 32, 3]: tiny_G's image of a random z (so a latent reproduces it)."""
    z = torch.randn([1, tiny_G.z_dim], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return to_uint8(tiny_G(z, None, noise_mode="const"))
