"""One drag step per backend, side by side: `pytest benches/bench_step.py --benchmark-only`.

Each benchmark group holds the backends on one generator shape and device, so pytest-benchmark's
table compares them in the same run. Steps do not render (the drag itself; `draggan-fast bench`
times rendering steps too). Timed with `draggan_fast.bench.timing.benchmark_rounds`, as
`draggan-fast bench` times: each call ends with a synchronise, and on CUDA the peak memory of the
steps goes into `extra_info` (also above what was allocated before the timed steps); CPU peak
memory needs a fresh process per backend, which `draggan-fast bench` does.
"""

import functools

import pytest
import torch

from draggan_fast.bench.timing import benchmark_rounds
from draggan_fast.bench.workload import DragWorkload, make_session

BACKENDS = ["reference", "fast"]
WORKLOAD = DragWorkload(handles=1, mask=False, render_every=0)


def _bench_steps(benchmark, generator, backend, device, rounds, warmup_rounds, group):
    """backend: a backend name (defaults: the fast one replays a CUDA graph on CUDA), or
    "fast-nograph" (DragSession(cuda_graph=False))."""
    device = torch.device(device)
    name, _, suffix = backend.partition("-")
    graph = False if suffix == "nograph" else None
    session = make_session(generator, WORKLOAD, name, device, False, cuda_graph=graph)
    session.step()  # takes the feature references, as a drag's first step does

    benchmark.group = group
    benchmark.extra_info["backend_detail"] = session.backend
    one_step = functools.partial(session.step, render=False)
    result = benchmark_rounds(benchmark, one_step, device, rounds, warmup_rounds)
    assert not result.done, "the handles arrived: later steps would skip the update"


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_tiny_cpu(benchmark, preset_generator, backend):
    _bench_steps(benchmark, preset_generator("tiny"), backend, "cpu", 10, 2, "step tiny 64px cpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_256_cpu(benchmark, preset_generator, backend):
    generator = preset_generator("256")
    _bench_steps(benchmark, generator, backend, "cpu", 5, 1, "step config-f 256px cpu")


@pytest.mark.cuda
@pytest.mark.parametrize("arch", ["256", "ffhq512", "1024"])
@pytest.mark.parametrize("backend", [*BACKENDS, "fast-nograph"])
def test_step_cuda(benchmark, preset_generator, cuda_device, arch, backend):
    generator = preset_generator(arch, cuda_device)
    _bench_steps(benchmark, generator, backend, cuda_device, 30, 5, f"step {arch} cuda")
