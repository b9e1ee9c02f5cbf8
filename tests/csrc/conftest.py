"""Shared fixtures of the compiled-op tests: skip when the extension is not built."""

import pytest

from draggan_fast.stylegan.ops import dispatch, extension


@pytest.fixture
def compiled_ops():
    """The loaded extension; skips tests of compiled kernels on a DRAGGAN_FAST_NO_EXT install."""
    if extension.load() is None:
        pytest.skip(f"compiled extension not available: {extension.failure()}")
    return extension.load()


@pytest.fixture
def fresh_dispatch(monkeypatch):
    """Forget cached dispatch decisions before and after a test that changes the environment."""
    dispatch.reset()
    yield monkeypatch
    monkeypatch.undo()
    dispatch.reset()
