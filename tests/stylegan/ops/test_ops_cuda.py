"""The CUDA kernels against the references (values and gradients per dtype, opcheck), their
first-use self-checks, and the generator on CUDA with the compiled ops, eager and compiled.
Skipped without a GPU; scripts/gpu_checks.sh runs them on a device machine."""

import pytest
import torch

from draggan_fast import dispatch
from draggan_fast.stylegan.ops.bias_act import bias_act_compiled, bias_act_reference
from draggan_fast.stylegan.ops.extension import KERNEL_DTYPES
from draggan_fast.stylegan.ops.modulated_conv2d import (
    modulated_conv2d_compiled,
    modulated_conv2d_reference,
)
from draggan_fast.stylegan.ops.upfirdn2d import (
    setup_filter,
    upfirdn2d_compiled,
    upfirdn2d_reference,
)
from tests.conftest import requires_cuda
from tests.fixture_generators import generator_from_fixture, load_fixture

pytestmark = requires_cuda

# Every dtype that dispatch sends to the CUDA bias_act and upfirdn2d kernels (float64 included).
DTYPES = list(KERNEL_DTYPES["cuda"])
OPS = ("bias_act", "upfirdn2d", "modulated_conv2d")
# Relative tolerance (to the reference's largest magnitude) per dtype.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2, torch.float64: 1e-10}
FIR = setup_filter([1, 3, 3, 1])


@pytest.fixture(autouse=True)
def exact_float32_convolutions():
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield


@pytest.fixture(autouse=True)
def compiled_dispatch(monkeypatch):
    """Every compiled op through dispatch too (`auto` runs the reference on CUDA, measured
    faster there: benches/RESULTS.md)."""
    monkeypatch.setenv(dispatch.ENV_VAR, "compiled")
    dispatch.forget()
    yield
    monkeypatch.undo()
    dispatch.forget()


def test_auto_runs_the_reference_where_it_measured_faster(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "auto")
    dispatch.forget()
    for op in OPS:
        implementation, reason = dispatch.choose(op, "cuda")
        assert implementation == "reference" and "measured slower than the reference" in reason


def _close(actual, expected, dtype):
    scale = max(expected.detach().float().abs().max().item(), 1.0)
    tolerance = TOLERANCE[dtype] * scale
    torch.testing.assert_close(actual.float(), expected.float(), rtol=0, atol=tolerance)


def _grads(function, inputs, grad_out=None):
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = function(*leaves)
    grad_out = torch.randn_like(out) if grad_out is None else grad_out
    grads = torch.autograd.grad(out, [t for t in leaves if t.requires_grad], grad_out)
    return out, grads, grad_out


def _compare(ours, theirs, inputs, dtype):
    out_ours, grads_ours, grad_out = _grads(ours, inputs)
    out_ref, grads_ref, _ = _grads(theirs, inputs, grad_out)
    _close(out_ours, out_ref, dtype)
    for grad_ours, grad_ref in zip(grads_ours, grads_ref):
        _close(grad_ours, grad_ref, dtype)


@pytest.mark.parametrize("op", OPS)
def test_self_check_passes_and_dispatch_is_compiled(compiled_ops, op):
    implementation, reason = dispatch.choose(op, "cuda")
    assert implementation == "compiled", reason


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid"])
@pytest.mark.parametrize(("shape", "dim"), [([2, 5, 7, 3], 1), ([3, 17], 1), ([4, 6, 9], -1)])
def test_bias_act(compiled_ops, dtype, act, shape, dim):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator).to("cuda", dtype)
    b = torch.randn(shape[dim], generator=generator).to("cuda", dtype)
    # The kernel computes in float32 and rounds once; the reference rounds x + b, act and gain
    # in the input dtype. Within that rounding of the clamp edge the two may disagree on which
    # side a value lies, and the gradient there is 0 in one and not in the other: keep x away.
    unclamped = bias_act_reference(x.double(), b.double(), dim=dim, act=act)
    near_edge = ((unclamped.abs() - 1.2).abs() < 0.05).to(dtype)
    x = x + 0.2 * near_edge
    unclamped = bias_act_reference(x.double(), b.double(), dim=dim, act=act)
    assert ((unclamped.abs() - 1.2).abs() >= 0.01).all()
    _compare(
        lambda x, b: bias_act_compiled(x, b, dim=dim, act=act, clamp=1.2),
        lambda x, b: bias_act_reference(x, b, dim=dim, act=act, clamp=1.2),
        [x, b],
        dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("up", "down", "padding"),
    [(2, 1, [2, 1, 2, 1]), (1, 1, [1, 1, 1, 1]), (1, 2, [1, 1, 1, 1]), (2, 2, [1, 2, 0, 3]),
     (1, 1, [-1, 2, 0, -1]), ([2, 1], [1, 2], [2, 1, 0, 1])],
)  # fmt: skip
@pytest.mark.parametrize("filter_name", ["fir4x4", "separable8"])
def test_upfirdn2d(compiled_ops, dtype, up, down, padding, filter_name):
    f = FIR if filter_name == "fir4x4" else setup_filter([1, 2, 3, 4, 4, 3, 2, 1])
    f = f.cuda()
    x = torch.randn(2, 3, 11, 9, generator=torch.Generator().manual_seed(0)).to("cuda", dtype)
    _compare(
        lambda x: upfirdn2d_compiled(x, f, up, down, padding, gain=2.0),
        lambda x: upfirdn2d_reference(x, f, up, down, padding, gain=2.0),
        [x],
        dtype,
    )


def test_upfirdn2d_gradcheck_double(compiled_ops):
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, device="cuda", requires_grad=True)
    f = FIR.cuda()
    assert torch.autograd.gradcheck(lambda x: upfirdn2d_compiled(x, f, 2, 1, [2, 1, 2, 1]), (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize(
    ("up", "kernel", "demodulate"), [(1, 3, True), (2, 3, True), (1, 1, False), (1, 3, False)]
)
@pytest.mark.parametrize("noise_kind", ["none", "const", "per-sample"])
def test_modulated_conv2d(compiled_ops, dtype, up, kernel, demodulate, noise_kind):
    generator = torch.Generator().manual_seed(0)
    batch, in_channels, out_channels, size = 2, 8, 6, 7
    x = torch.randn(batch, in_channels, size, size, generator=generator).to("cuda", dtype)
    weight = torch.randn(out_channels, in_channels, kernel, kernel, generator=generator).cuda()
    styles = (torch.randn(batch, in_channels, generator=generator) + 1).cuda()
    out_size = size * up
    noise_shape = {"none": None, "const": [out_size, out_size],
                   "per-sample": [batch, 1, out_size, out_size]}[noise_kind]  # fmt: skip
    noise = None if noise_shape is None else torch.randn(noise_shape, generator=generator).cuda()
    f = FIR.cuda()
    kwargs = dict(up=up, padding=kernel // 2, resample_filter=f, demodulate=demodulate,
                  flip_weight=(up == 1))  # fmt: skip
    inputs = [x, weight, styles] + ([noise] if noise is not None else [])

    def ours(x, weight, styles, noise=None):
        return modulated_conv2d_compiled(x, weight, styles, noise=noise, **kwargs)

    def theirs(x, weight, styles, noise=None):
        return modulated_conv2d_reference(x, weight, styles, noise=noise, **kwargs)

    _compare(ours, theirs, inputs, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv2d_fused_bias_act(compiled_ops, dtype, up):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 7, 7, generator=generator).to("cuda", dtype)
    weight = torch.randn(6, 8, 3, 3, generator=generator).cuda()
    styles = (torch.randn(2, 8, generator=generator) + 1).cuda()
    bias = torch.randn(6, generator=generator).cuda()
    noise = torch.randn(7 * up, 7 * up, generator=generator).cuda()
    conv = dict(noise=noise, up=up, padding=1, resample_filter=FIR.cuda(), flip_weight=(up == 1))
    epilogue = dict(act="lrelu", gain=1.4, clamp=0.9)

    def ours(x, weight, styles, bias):
        return modulated_conv2d_compiled(x, weight, styles, bias=bias, **conv, **epilogue)

    def theirs(x, weight, styles, bias):
        out = modulated_conv2d_reference(x, weight, styles, **conv)
        return bias_act_reference(out, bias.to(out.dtype), **epilogue)

    _compare(ours, theirs, [x, weight, styles, bias], dtype)


def test_opcheck_cuda(compiled_ops):
    x = torch.randn(2, 4, 6, 6, device="cuda", requires_grad=True)
    b = torch.randn(4, device="cuda")
    torch.library.opcheck(
        torch.ops.draggan_fast.bias_act.default, (x, b, 1, "lrelu", 0.2, 1.4, 1.0)
    )
    f = FIR.cuda()
    torch.library.opcheck(
        torch.ops.draggan_fast.upfirdn2d.default, (x, f, 2, 2, 1, 1, 2, 1, 2, 1, False, 4.0)
    )
    weight = torch.randn(5, 4, 3, 3, device="cuda", requires_grad=True)
    styles = torch.randn(2, 4, device="cuda", requires_grad=True)
    noise = torch.randn(12, 12, device="cuda")
    torch.library.opcheck(
        torch.ops.draggan_fast.modulated_conv2d.default,
        (x, weight, styles, noise, None, f, 2, 1, True, False, "linear", 0.0, 1.0, -1.0),
    )
    bias = torch.randn(5, device="cuda", requires_grad=True)
    torch.library.opcheck(
        torch.ops.draggan_fast.modulated_conv2d.default,
        (x, weight, styles, noise[:6, :6], bias, None, 1, 1, True, True, "lrelu", 0.2, 1.4, 0.9),
    )


def test_generator_matches_the_official_fixture(compiled_ops, fixtures_dir):
    data, _ = load_fixture(fixtures_dir, "sg2_64_sg3kw_clamp")
    G = generator_from_fixture(fixtures_dir, "sg2_64_sg3kw_clamp").cuda()
    ws = torch.from_numpy(data["ws_psi07"]).cuda()
    with torch.no_grad():
        image = G.synthesis(ws, noise_mode="const", force_fp32=True)
    torch.testing.assert_close(
        image.cpu(), torch.from_numpy(data["img_const"]), rtol=1e-3, atol=1e-3
    )


def test_generator_compiles_on_cuda_with_the_ops(compiled_ops, fixtures_dir):
    torch._dynamo.reset()
    G = generator_from_fixture(fixtures_dir, "sg2_64_ada").cuda()
    data, _ = load_fixture(fixtures_dir, "sg2_64_ada")
    ws = torch.from_numpy(data["ws_psi07"]).cuda()
    compiled_synthesis = torch.compile(G.synthesis, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled_synthesis(ws), G.synthesis(ws), rtol=1e-3, atol=1e-3)
