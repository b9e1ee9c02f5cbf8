"""The gradient formula of the compiled modulated_conv2d (a CUDA op), checked on the CPU: the
op's setup_context and backward (stylegan/ops/modulated_conv2d.py), fed with the
reference forward, must give the reference's autograd gradients. The CUDA tests check the op
itself end to end."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.ops.bias_act import bias_act_reference
from draggan_fast.stylegan.ops.modulated_conv2d import (
    _activation_backward,
    _backward,
    _setup,
    modulated_conv2d_reference,
)
from draggan_fast.stylegan.ops.upfirdn2d import setup_filter
from tests.stylegan.ops.conftest import torch_clamp_passes_the_edge

FIR = setup_filter([1, 3, 3, 1])


@pytest.mark.parametrize(
    ("up", "kernel", "demodulate"), [(1, 3, True), (2, 3, True), (1, 1, False), (2, 3, False)]
)
@pytest.mark.parametrize("act", ["linear", "lrelu"])
def test_backward_formula_matches_reference_autograd(compiled_ops, up, kernel, demodulate, act):
    generator = torch.Generator().manual_seed(0)
    batch, in_channels, out_channels, size = 2, 5, 4, 6
    x = torch.randn(batch, in_channels, size, size, generator=generator, dtype=torch.float64)
    weight = torch.randn(out_channels, in_channels, kernel, kernel, generator=generator).double()
    styles = torch.randn(batch, in_channels, generator=generator, dtype=torch.float64) + 1
    noise = torch.randn(batch, 1, size * up, size * up, generator=generator, dtype=torch.float64)
    bias = torch.randn(out_channels, generator=generator, dtype=torch.float64)
    alpha, gain, clamp = 0.2, 1.4, 0.9
    leaves = [t.clone().requires_grad_(True) for t in (x, weight, styles, noise, bias)]

    def reference_forward(x, weight, styles, noise, bias):
        pre = modulated_conv2d_reference(
            x, weight, styles, noise=noise, up=up, padding=kernel // 2, resample_filter=FIR,
            demodulate=demodulate, flip_weight=(up == 1),
        )  # fmt: skip
        return bias_act_reference(pre, bias, act=act, alpha=alpha, gain=gain, clamp=clamp)

    y = reference_forward(*leaves)
    grad_y = torch.randn(y.shape, generator=generator, dtype=torch.float64)
    expected = torch.autograd.grad(y, leaves, grad_y)

    # The op's own setup_context fills the context from the op's inputs and output.
    ctx = SimpleNamespace()
    ctx.save_for_backward = lambda *tensors: setattr(ctx, "saved_tensors", tensors)
    op_inputs = (
        x, weight, styles, noise, bias, FIR, up, kernel // 2, demodulate, up == 1, act, alpha,
        gain, clamp,
    )  # fmt: skip
    _setup(ctx, op_inputs, y.detach())
    grads = _backward(ctx, grad_y)
    for name, actual, wanted in zip(["x", "weight", "styles", "noise", "bias"], grads, expected):
        torch.testing.assert_close(actual, wanted, rtol=1e-9, atol=1e-9, msg=f"grad of {name}")


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
def test_activation_backward_at_and_around_the_clamp_edge(compiled_ops, act):
    """The clamp mask read from y (the op keeps only the clamped output) against the
    reference's autograd, with values inside, exactly at and beyond both edges. At the edge y
    equals the clamp, as beyond it, so the edge gets no gradient; the reference agrees where
    torch's clamp uses the minimum-norm subgradient (checked here), older torch passes it."""
    alpha, gain, clamp = 0.25, 2.0, 1.0  # exact in binary: act(pre) * gain hits +-1.0 exactly
    # [N, C, H, W] = [1, 1, 2, 4]; row 0: inside, at +edge, beyond +edge, at -edge (lrelu: the
    # negative slope reaches it at pre = -2); row 1: inside, beyond -edge, pre = 0, inside.
    negative_edge = -2.0 if act == "lrelu" else -0.5
    pre = torch.tensor(
        [[[[0.3, 0.5, 0.9, negative_edge], [-0.1, -7.0, 0.0, 0.45]]]], dtype=torch.float64
    ).requires_grad_(True)
    y = bias_act_reference(pre, act=act, alpha=alpha, gain=gain, clamp=clamp)
    grad_y = torch.arange(1.0, 9.0, dtype=torch.float64).reshape(y.shape)
    (expected,) = torch.autograd.grad(y, pre, grad_y)
    actual = _activation_backward(grad_y, y.detach(), act, alpha, gain, clamp)

    unclamped = bias_act_reference(pre.detach(), act=act, alpha=alpha, gain=gain)
    at_edge, beyond = unclamped.abs() == clamp, unclamped.abs() > clamp
    edges = {"linear": 2, "relu": 1, "lrelu": 2}[act]  # relu: -0.5 is no edge, it is 0
    assert int(at_edge.sum()) == edges and int(beyond.sum()) == 2 - (act == "relu")
    assert torch.all(y.detach()[at_edge | beyond].abs() == clamp)
    assert torch.all(actual[at_edge | beyond] == 0)
    compared = ~at_edge if torch_clamp_passes_the_edge() else torch.ones_like(at_edge)
    torch.testing.assert_close(actual[compared], expected[compared], rtol=0, atol=0)


# --- the reference against independent formulations of the official semantics ---


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_equals_non_fused(up, demodulate):
    torch.manual_seed(3)
    x, weight = torch.randn(3, 4, 8, 8), torch.randn(6, 4, 3, 3)
    styles, noise = torch.randn(3, 4), torch.randn(1, 1, 8 * up, 8 * up)
    f = setup_filter([1, 3, 3, 1])
    common = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=up == 1)
    fused = modulated_conv2d_reference(x, weight, styles, noise, fused_modconv=True, **common)
    split = modulated_conv2d_reference(x, weight, styles, noise, fused_modconv=False, **common)
    torch.testing.assert_close(fused, split, atol=1e-4, rtol=1e-4)


def test_modulated_conv2d_demodulation_normalises_output_channels():
    torch.manual_seed(4)
    x, weight, styles = torch.randn(1, 4, 6, 6), torch.randn(2, 4, 1, 1), torch.randn(1, 4)
    out = modulated_conv2d_reference(x, weight, styles)
    w = weight[None] * styles[:, None, :, None, None]
    w = w / w.square().sum(dim=[2, 3, 4], keepdim=True).add(1e-8).sqrt()
    torch.testing.assert_close(out, F.conv2d(x, w[0]))
