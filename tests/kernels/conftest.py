"""Fixtures of the drag-op tests."""

import pytest

from draggan_fast.kernels import dispatch


@pytest.fixture
def on_triton(monkeypatch):
    """Make the registered ops run their Triton kernels here (TRITON_INTERPRET=1 on CPU)."""
    monkeypatch.setattr(dispatch, "choose", lambda device: ("triton", "forced by the test"))
