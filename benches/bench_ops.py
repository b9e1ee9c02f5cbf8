"""Generator ops: the compiled op vs the reference vs the inductor-compiled reference, side by
side in one run: `pytest benches/bench_ops.py --benchmark-only`.

Shapes are the generator's hot calls: bias_act after a 256-channel 128x128 conv (lrelu, clamp),
the FIR pass of the 2x up-sampling conv (4x4 filter on the [1, C, 2H+1, 2W+1] transposed-conv
output), upsample2d of the image, and 2x down-sampling (upfirdn2d's gradient of upsample2d).
The compiled op (`<op>_compiled`) is called directly, the reference (`<op>_reference`) eager and
inductor-compiled; the first call (inductor's compilation) is timed separately and stored in
extra_info["first_call_s"].
"""

import importlib
import time

import pytest
import torch

from draggan_fast.bench.timing import benchmark_rounds
from draggan_fast.stylegan.ops import extension, setup_filter

IMPLEMENTATIONS = ["compiled", "reference", "inductor"]
FIR = setup_filter([1, 3, 3, 1])


def _function(op, implementation):
    # The op's file (the package's attribute of the op's name is its function).
    module = importlib.import_module(f"draggan_fast.stylegan.ops.{op}")
    if implementation == "compiled":
        if extension.load() is None:
            pytest.skip(f"compiled extension not available: {extension.failure()}")
        return getattr(module, f"{op}_compiled")
    function = getattr(module, f"{op}_reference")
    return torch.compile(function, fullgraph=True) if implementation == "inductor" else function


def _run(benchmark, group, function, inputs, backward, rounds):
    inputs = [t.requires_grad_(backward) if t.is_floating_point() else t for t in inputs]

    def call():
        out = function(*inputs)
        if backward:
            torch.autograd.grad(out, [t for t in inputs if t.requires_grad], torch.ones_like(out))
        if out.is_cuda:
            torch.cuda.synchronize()

    torch._dynamo.reset()
    start = time.perf_counter()
    call()
    benchmark.extra_info["first_call_s"] = round(time.perf_counter() - start, 3)
    benchmark.group = group
    benchmark_rounds(benchmark, call, inputs[0].device, rounds)


def _bias_act_inputs(device, dtype, channels, size):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, size, size, generator=generator).to(device, dtype)
    b = torch.randn(channels, generator=generator).to(device, dtype)
    return x, b


def _bias_act(x, b, function):
    return function(x, b, act="lrelu", clamp=256.0)


CPU_ROUNDS = 10


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_bias_act_cpu(benchmark, implementation, backward):
    function = _function("bias_act", implementation)
    x, b = _bias_act_inputs("cpu", torch.float32, 256, 128)
    direction = "fwd+bwd" if backward else "fwd"
    _run(benchmark, f"bias_act lrelu [1,256,128,128] {direction}, cpu",
         lambda x, b: _bias_act(x, b, function), [x, b], backward, CPU_ROUNDS)  # fmt: skip


# name -> (input shape, upfirdn2d kwargs)
UPFIRDN2D_CASES = {
    "upconv-fir": ([1, 256, 129, 129], {"padding": [1, 1, 1, 1], "gain": 4}),
    "upsample2d-img": ([1, 3, 256, 256], {"up": 2, "padding": [2, 1, 2, 1], "gain": 4}),
    "down2": ([1, 128, 128, 128], {"down": 2, "padding": [1, 1, 1, 1]}),
}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", sorted(UPFIRDN2D_CASES))
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_upfirdn2d_cpu(benchmark, implementation, case, backward):
    function = _function("upfirdn2d", implementation)
    shape, kwargs = UPFIRDN2D_CASES[case]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    direction = "fwd+bwd" if backward else "fwd"
    _run(benchmark, f"upfirdn2d {case} {shape} {direction}, cpu",
         lambda x: function(x, FIR, **kwargs), [x], backward, CPU_ROUNDS)  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_bias_act_cuda(benchmark, implementation, dtype, backward):
    function = _function("bias_act", implementation)
    x, b = _bias_act_inputs("cuda", dtype, 128, 512)
    direction = "fwd+bwd" if backward else "fwd"
    _run(benchmark, f"bias_act lrelu [1,128,512,512] {dtype} {direction}, cuda",
         lambda x, b: _bias_act(x, b, function), [x, b], backward, 50)  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", sorted(UPFIRDN2D_CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_upfirdn2d_cuda(benchmark, implementation, case, dtype):
    function = _function("upfirdn2d", implementation)
    shape, kwargs = UPFIRDN2D_CASES[case]
    shape = [4, *shape[1:]]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to("cuda", dtype)
    f = FIR.cuda()
    _run(benchmark, f"upfirdn2d {case} {shape} {dtype} fwd+bwd, cuda",
         lambda x: function(x, f, **kwargs), [x], True, 50)  # fmt: skip


# The modulated conv layers of a 512 px config-f generator: (C_in, C_out, input size, up).
MODULATED_CONV_LAYERS = {
    "512ch-32px": (512, 512, 32, 1),
    "512-256ch-64->128px-up": (512, 256, 64, 2),
    "256ch-128px": (256, 256, 128, 1),
    "128ch-256px": (128, 128, 256, 1),
}


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("layer", sorted(MODULATED_CONV_LAYERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_modulated_conv2d_cuda(benchmark, implementation, layer, dtype):
    """The fused CUDA op (cuDNN convolution between fused prologue and epilogue kernels)
    against the reference's grouped cuDNN convolution, eager and inductor-compiled."""
    function = _function("modulated_conv2d", implementation)
    in_channels, out_channels, size, up = MODULATED_CONV_LAYERS[layer]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, in_channels, size, size, generator=generator).to("cuda", dtype)
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator).cuda()
    styles = torch.randn(1, in_channels, generator=generator).cuda()
    noise = torch.randn(size * up, size * up, generator=generator).cuda()
    f = FIR.cuda()

    def layer_forward(x, weight, styles):
        return function(x, weight, styles, noise=noise, up=up, padding=1, resample_filter=f,
                        flip_weight=(up == 1))  # fmt: skip

    _run(benchmark, f"modulated_conv2d {layer} {dtype} fwd+bwd, cuda", layer_forward,
         [x, weight, styles], True, 30)  # fmt: skip
