"""Generator forward: eager vs torch.compile'd, with the reference ops and with the compiled
ops, side by side in one run: `pytest benches/bench_generator.py --benchmark-only`.

Variants: eager-reference (DRAGGAN_FAST_OPS=reference), eager-ops (every op with a compiled
kernel for the device compiled, e.g. DRAGGAN_FAST_OPS=reference,bias_act=compiled,...),
inductor-reference, inductor-ops (fullgraph, the custom ops inside the graph); on CUDA also eager
runs with some ops compiled (eager-bias_act+upfirdn2d: those two, the rest reference): the
measurement that decides which ops `auto` compiles on CUDA (the measured_slower of each op's
"compiled" implementation, stylegan/ops/<op>.py; figures in benches/RESULTS.md). The timed call is
the synthesis forward from fixed ws (no grad) plus, as in a drag step, forward+backward to ws;
compile time (the first call) is in extra_info["first_call_s"]. CPU: the "tiny" 64 px preset
for all four (compiling a 512 px network takes too long on 2 cores) and the 256 px config-f
preset eager only; CUDA: the 512 px config-f preset.
"""

import os
import time

import pytest
import torch

from draggan_fast import dispatch
from draggan_fast.bench.timing import benchmark_rounds
from draggan_fast.stylegan.ops import extension

VARIANTS = ["eager-reference", "eager-ops", "inductor-reference", "inductor-ops"]
CUDA_SUBSETS = ["eager-bias_act", "eager-bias_act+upfirdn2d", "eager-bias_act+modulated_conv2d"]


@pytest.fixture
def ops_mode(monkeypatch):
    """Select the ops of a variant ("<eager|inductor>-<reference|ops|op+op...>") on a device
    type for the rest of the test: the named ops compiled ("ops": every op with a compiled
    kernel there), the rest reference."""

    def select(variant, device_type):
        selection = variant.split("-", 1)[1]
        if selection != "reference" and extension.load() is None:
            pytest.skip(f"compiled extension not available: {extension.failure()}")
        if selection == "ops":
            names = [op for op in extension.compiled_ops() if op in dispatch.registered()]
            names = [op for op in names if extension.has_kernel(op, device_type)]
        else:
            names = [] if selection == "reference" else selection.split("+")
        value = ",".join(["reference", *(f"{op}=compiled" for op in names)])
        monkeypatch.setenv(dispatch.ENV_VAR, value)
        dispatch.forget()
        torch._dynamo.reset()

    yield select
    monkeypatch.undo()
    dispatch.forget()
    torch._dynamo.reset()


def _bench(benchmark, ops_mode, G, variant, backward, rounds):
    device = next(G.parameters()).device
    ops_mode(variant, device.type)
    generator = torch.Generator().manual_seed(0)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=generator).to(device), truncation_psi=0.7)
    synthesis = G.synthesis
    if variant.startswith("inductor"):
        synthesis = torch.compile(G.synthesis, fullgraph=True)

    def call():
        if backward:
            ws_leaf = ws.detach().requires_grad_(True)
            image = synthesis(ws_leaf)
            torch.autograd.grad(image.square().mean(), ws_leaf)
        else:
            with torch.no_grad():
                synthesis(ws)
        if device.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    call()
    benchmark.extra_info["first_call_s"] = round(time.perf_counter() - start, 3)
    benchmark.extra_info["ops"] = os.environ.get(dispatch.ENV_VAR)
    benchmark_rounds(benchmark, call, device, rounds)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_generator_tiny_cpu(benchmark, preset_generator, ops_mode, variant, backward):
    G = preset_generator("tiny", "cpu")
    direction = "fwd+bwd" if backward else "fwd"
    benchmark.group = f"generator tiny (64 px) synthesis {direction}, cpu"
    _bench(benchmark, ops_mode, G, variant, backward, rounds=15)


@pytest.mark.parametrize("variant", ["eager-reference", "eager-ops"])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_generator_256_eager_cpu(benchmark, preset_generator, ops_mode, variant, backward):
    """A real config-f shape (256 px) on the CPU, eager only (inductor would compile for long)."""
    G = preset_generator("256", "cpu")
    direction = "fwd+bwd" if backward else "fwd"
    benchmark.group = f"generator 256 px synthesis {direction}, cpu, eager"
    _bench(benchmark, ops_mode, G, variant, backward, rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("variant", VARIANTS + CUDA_SUBSETS)
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_generator_512_cuda(benchmark, preset_generator, ops_mode, variant, backward):
    G = preset_generator("ffhq512", "cuda")
    direction = "fwd+bwd" if backward else "fwd"
    benchmark.group = f"generator ffhq512 synthesis {direction}, cuda"
    _bench(benchmark, ops_mode, G, variant, backward, rounds=20)
