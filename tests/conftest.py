"""Shared test set-up: Triton runs under its CPU interpreter when there is no GPU, and the
reference fixtures of the official implementation are found in $DRAGGAN_FAST_SHARED/fixtures or
else ../shared/fixtures beside the repository (never anywhere else); tests that need them skip,
naming what is missing, when they are absent."""

import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Must happen before any Triton kernel is defined: CI runs the kernels on the CPU this way.
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "DRAGGAN_FAST_SHARED"


def shared_dir() -> Path | None:
    """The folder holding the official reference fixtures: $DRAGGAN_FAST_SHARED when set, else
    ../shared beside the repository; None when it has no fixtures/ folder."""
    configured = os.environ.get(SHARED_ENV)
    candidate = Path(configured) if configured else REPO.parent / "shared"
    return candidate if (candidate / "fixtures").is_dir() else None


def missing_fixtures_reason() -> str:
    where = os.environ.get(SHARED_ENV)
    looked = f"{where}/fixtures (${SHARED_ENV})" if where else "../shared/fixtures"
    return (
        f"reference fixtures not found: {looked}; put the shared folder beside the repository "
        f"or set ${SHARED_ENV} to the folder holding fixtures/"
    )


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The reference fixtures folder; a test that asks for it skips when it is absent."""
    shared = shared_dir()
    if shared is None:
        pytest.skip(missing_fixtures_reason())
    return shared / "fixtures"


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
