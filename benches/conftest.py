"""Shared set-up of the pytest-benchmark suites: `pytest benches/ --benchmark-only`.

- Files named `bench_*.py` here are collected (pytest's default only looks for `test_*.py`).
- Without a GPU, Triton runs under its CPU interpreter (as in tests/), and benchmarks marked
  `@pytest.mark.cuda` are skipped.
- glibc's allocator is tuned as in the CLI (`draggan_fast.cli.tune_allocator`).
- Timing is `draggan_fast.bench.timing`'s, as in `draggan-fast bench`: one system times and
  summarises both. Fixtures: `timed_rounds` (time a callable with it),
  `cuda_device` (torch.device("cuda"), skips without a GPU) and `preset_generator`
  (`preset_generator(arch, device)`: a generator of an official shape with seeded random weights,
  see `draggan_fast.bench.presets`, built once per session and shared).
"""

import fnmatch
import os

import pytest
import torch

from draggan_fast.bench.timing import benchmark_rounds
from draggan_fast.cli import tune_allocator

# A benchmark run is an application entry point: keep big freed buffers in the process, as the
# CLI does, so conv-heavy loops are not timed mostly in page faults (glibc only).
tune_allocator()

if not torch.cuda.is_available():
    # Must happen before any Triton kernel is defined.
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    patterns = parent.config.getini("python_files")
    if parent.session.isinitpath(file_path) or any(
        fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns
    ):
        return None  # pytest collects it already: named on the command line or by python_files
    return pytest.Module.from_parent(parent, path=file_path)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cuda_device() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return torch.device("cuda")


@pytest.fixture(scope="session")
def preset_generator():
    from draggan_fast.bench.presets import build_preset_generator

    built = {}

    def get(arch: str, device="cpu"):
        key = (arch, str(device))
        if key not in built:
            built[key] = build_preset_generator(arch).to(device)
        return built[key]

    return get


@pytest.fixture
def timed_rounds(benchmark):
    """`timed_rounds(group, function, device, rounds)`: time `function()` with
    `draggan_fast.bench.timing.benchmark_rounds` (one warm-up round, CUDA-synchronised, the
    summary statistics of `draggan-fast bench` and the peak CUDA memory in `extra_info`)."""

    def run(group, function, device, rounds):
        benchmark.group = group
        return benchmark_rounds(benchmark, function, device, rounds, warmup_rounds=1)

    return run
