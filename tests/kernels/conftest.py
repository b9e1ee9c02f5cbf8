"""Fixtures of the drag-op tests."""

import pytest
import torch

from draggan_fast.kernels import dispatch


@pytest.fixture
def on_triton(monkeypatch):
    """The device on which the registered ops run their Triton kernels: CUDA where there is a
    GPU, else the CPU, where TRITON_INTERPRET=1 interprets them."""
    monkeypatch.setattr(dispatch, "choose", lambda device: ("triton", "forced by the test"))
    return "cuda" if torch.cuda.is_available() else "cpu"
