"""Shared fixtures of the generator-op tests: skip compiled-kernel tests when the extension is
not built; forget dispatch decisions around tests that change them."""

import pytest
import torch

from draggan_fast import dispatch
from draggan_fast.stylegan.ops import extension


@pytest.fixture
def compiled_ops():
    """The loaded extension; skips tests of compiled kernels on a DRAGGAN_FAST_NO_EXT install."""
    if extension.load() is None:
        pytest.skip(f"compiled extension not available: {extension.failure()}")
    return extension.load()


@pytest.fixture
def fresh_dispatch(monkeypatch):
    """Forget cached dispatch decisions before and after a test that changes the environment."""
    dispatch.forget()
    yield monkeypatch
    monkeypatch.undo()
    dispatch.forget()


def torch_clamp_passes_the_edge() -> bool:
    """Whether this torch's clamp backward passes the gradient at the bounds (subgradient 1,
    older releases) or not (the minimum-norm 0 of newer ones, pytorch/pytorch#184574)."""
    x = torch.ones(1, dtype=torch.float64, requires_grad=True)
    return bool(torch.autograd.grad(x.clamp(-1.0, 1.0).sum(), x)[0] != 0)
