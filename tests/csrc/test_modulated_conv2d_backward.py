"""The gradient formula of the compiled modulated_conv2d (a CUDA op), checked on the CPU: the
op's setup_context and backward (stylegan/ops/modulated_conv2d_autograd.py), fed with the
reference forward, must give the reference's autograd gradients. The CUDA tests check the op
itself end to end."""

from types import SimpleNamespace

import pytest
import torch

from draggan_fast.stylegan.ops import reference

FIR = reference.setup_filter([1, 3, 3, 1])


@pytest.mark.parametrize(
    ("up", "kernel", "demodulate"), [(1, 3, True), (2, 3, True), (1, 1, False), (2, 3, False)]
)
@pytest.mark.parametrize("act", ["linear", "lrelu"])
def test_backward_formula_matches_reference_autograd(compiled_ops, up, kernel, demodulate, act):
    from draggan_fast.stylegan.ops import modulated_conv2d_autograd

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
        pre = reference.modulated_conv2d(
            x, weight, styles, noise=noise, up=up, padding=kernel // 2, resample_filter=FIR,
            demodulate=demodulate, flip_weight=(up == 1),
        )  # fmt: skip
        return reference.bias_act(pre, bias, act=act, alpha=alpha, gain=gain, clamp=clamp)

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
    modulated_conv2d_autograd._setup(ctx, op_inputs, y.detach())
    grads = modulated_conv2d_autograd._backward(ctx, grad_y)
    for name, actual, wanted in zip(["x", "weight", "styles", "noise", "bias"], grads, expected):
        torch.testing.assert_close(actual, wanted, rtol=1e-9, atol=1e-9, msg=f"grad of {name}")
