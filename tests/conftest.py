"""Shared test set-up: Triton runs under its CPU interpreter when there is no GPU, and the
reference fixtures of the official implementation are found in ../shared/fixtures."""

import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Must happen before any Triton kernel is defined: CI runs the kernels on the CPU this way.
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]


def _shared_dir():
    candidates = [os.environ.get("DRAGGAN_FAST_SHARED"), REPO.parent / "shared", "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "fixtures").is_dir():
            return Path(candidate)
    raise RuntimeError(
        "reference fixtures not found: set DRAGGAN_FAST_SHARED to the folder holding fixtures/"
    )


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _shared_dir() / "fixtures"


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
