"""Fixtures of the session tests: tiny generators (real architecture, a few channels, fast on
the CPU) and the recorded official drag (../shared/fixtures/drag_128_ada_*)."""

import json

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
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


@pytest.fixture(scope="module")
def official_run(fixtures_dir):
    """(trace, final ws [1, num_ws, w_dim], last image uint8 [H, W, 3]) of the official run:
    20 steps on the sg2_128_ada generator, points as [row, col]."""
    trace = json.loads((fixtures_dir / "drag_128_ada_trace.json").read_text())
    final_ws = np.load(fixtures_dir / "drag_128_ada_final_ws.npy")
    last_image = np.load(fixtures_dir / "drag_128_ada_last_img.npy")
    return trace, final_ws, last_image


def trace_session(G, trace, backend, **overrides):
    """A DragSession with the official run's settings and points (overrides replace settings)."""
    settings = dict(
        seed=trace["seed"], truncation_psi=trace["truncation_psi"],
        latent_space=trace["latent_space"], n_optimized_layers=trace["n_optimized_layers"],
        lr=trace["lr"], r1=trace["r1"], r2=trace["r2"], lambda_mask=trace["lambda_mask"],
        feature_block=trace["feature_block"], tracking=trace["tracking"],
        noise_mode=trace["noise_mode"], backend=backend,
    )  # fmt: skip
    settings.update(overrides)
    session = DragSession(G, **settings)
    for (row, col), (target_row, target_col) in zip(trace["points0"], trace["targets"]):
        session.add_point((col, row), (target_col, target_row))
    return session
