"""The compiled bias_act (CPU) against the reference: values, gradients, opcheck, errors."""

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.ops.bias_act import (
    activation_defaults,
    bias_act_compiled,
    bias_act_reference,
)
from tests.stylegan.ops.conftest import torch_clamp_passes_the_edge

ACTIVATIONS = ["linear", "relu", "lrelu", "tanh", "sigmoid"]
# (x shape, dim): 4D feature maps, [N, C] rows (mapping network), odd sizes, bias on the last dim.
SHAPES = [([2, 5, 7, 3], 1), ([3, 17], 1), ([1, 1, 1, 1], 1), ([4, 6, 9], -1), ([2, 3, 4], 0)]


def _inputs(shape, dim, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=dtype) * 2
    b = torch.randn([shape[dim]], generator=generator, dtype=dtype)
    return x, b


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize(("shape", "dim"), SHAPES)
@pytest.mark.parametrize("clamp", [None, 0.7])
def test_forward_matches_reference(compiled_ops, act, shape, dim, clamp):
    x, b = _inputs(shape, dim)
    expected = bias_act_reference(x, b, dim=dim, act=act, clamp=clamp)
    actual = bias_act_compiled(x, b, dim=dim, act=act, clamp=clamp)
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-6)
    if clamp is not None:
        assert actual.abs().max() <= clamp


def test_lrelu_is_bit_exact_without_bias_and_with_custom_alpha_gain(compiled_ops):
    x, b = _inputs([2, 8, 5, 5], 1)
    for bias in (b, None):
        expected = bias_act_reference(x, bias, act="lrelu", alpha=0.1, gain=3.0, clamp=2.5)
        actual = bias_act_compiled(x, bias, act="lrelu", alpha=0.1, gain=3.0, clamp=2.5)
        assert torch.equal(actual, expected)


def test_non_contiguous_input(compiled_ops):
    x, b = _inputs([2, 6, 5, 4], 1)
    x = x.permute(0, 1, 3, 2)  # [2, 6, 4, 5], not contiguous
    expected = bias_act_reference(x, b, act="lrelu", clamp=1.0)
    torch.testing.assert_close(bias_act_compiled(x, b, act="lrelu", clamp=1.0), expected)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gradcheck_double(compiled_ops, act):
    x, b = _inputs([2, 3, 4, 5], 1, dtype=torch.float64)
    # Keep samples off the kinks of relu/lrelu and the clamp edges, where the slope jumps.
    x = torch.where((x + b.reshape(1, -1, 1, 1)).abs() < 0.05, x + 0.2, x)
    x.requires_grad_(True)
    b.requires_grad_(True)

    def run(x, b):
        return bias_act_compiled(x, b, act=act, gain=1.3, clamp=1.5)

    assert torch.autograd.gradcheck(run, (x, b))
    assert torch.autograd.gradgradcheck(run, (x, b))


@pytest.mark.parametrize("act", ["lrelu", "sigmoid"])
def test_float32_gradients_match_reference(compiled_ops, act):
    x, b = _inputs([2, 16, 9, 9], 1)
    grad_y = torch.randn_like(x)
    grads = []
    for impl in (bias_act_compiled, bias_act_reference):
        xs, bs = x.clone().requires_grad_(), b.clone().requires_grad_()
        impl(xs, bs, act=act, clamp=0.8).backward(grad_y)
        grads.append((xs.grad, bs.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-5)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))]  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
def test_gradient_at_and_around_the_clamp_edge(compiled_ops, act, device):
    """The clamp passes the gradient strictly inside (-clamp, clamp), as the official bias_act
    (|yref| < clamp): none exactly at the edge. The reference's autograd agrees where torch's
    clamp uses the minimum-norm subgradient (checked here); older torch passes it there."""
    # act(x + b) * 2 hits +-1 exactly at x = 0.5 and x = -0.5 (lrelu, alpha 0.25: x = -2).
    negative_edge = -2.0 if act == "lrelu" else -0.5
    x = torch.tensor([[0.3, 0.5, 0.9, negative_edge], [-0.1, -7.0, 0.0, 0.45]], device=device)
    grad_y = torch.arange(1.0, 9.0, device=device).reshape(x.shape)
    grads = []
    for impl in (bias_act_compiled, bias_act_reference):
        xs = x.clone().requires_grad_(True)
        impl(xs, None, act=act, alpha=0.25, gain=2.0, clamp=1.0).backward(grad_y)
        grads.append(xs.grad)
    unclamped = bias_act_reference(x, None, act=act, alpha=0.25, gain=2.0)
    at_edge, beyond = unclamped.abs() == 1.0, unclamped.abs() > 1.0
    assert int(at_edge.sum()) == (1 if act == "relu" else 2)
    assert torch.all(grads[0][at_edge | beyond] == 0)
    assert torch.all(grads[0][0, 0] != 0)  # inside: 0.3 * 2 = 0.6
    compared = ~at_edge if torch_clamp_passes_the_edge() else torch.ones_like(at_edge)
    torch.testing.assert_close(grads[0][compared], grads[1][compared], rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_no_clamp_passes_the_gradient_of_overflowed_values(compiled_ops, device):
    x = torch.tensor([3e38, -3e38, 1.0], device=device)  # * 2 overflows float32 to +-inf
    xs = x.clone().requires_grad_(True)
    y = bias_act_compiled(xs, None, dim=0, act="linear", gain=2.0)
    y.backward(torch.ones_like(y))
    assert y[:2].isinf().all() and torch.equal(xs.grad, torch.full_like(x, 2.0))


@pytest.mark.parametrize(("act", "clamp"), [("lrelu", 256.0), ("tanh", -1.0), ("linear", 0.5)])
def test_opcheck(compiled_ops, act, clamp):
    x, b = _inputs([2, 4, 3, 5], 1)
    x.requires_grad_(True)
    torch.library.opcheck(torch.ops.draggan_fast.bias_act.default, (x, b, 1, act, 0.2, 1.4, clamp))
    torch.library.opcheck(
        torch.ops.draggan_fast.bias_act.default, (x.detach()[:, 0], None, 1, act, 0.2, 1.0, clamp)
    )
    grad_y = torch.randn_like(x)
    torch.library.opcheck(
        torch.ops.draggan_fast.bias_act_grad.default,
        (grad_y, x.detach(), b, 1, act, 0.2, 1.4, clamp),
    )


def test_bad_input_is_named(compiled_ops):
    x, b = _inputs([2, 4, 3], 1)
    with pytest.raises(RuntimeError, match="unknown activation 'swish'"):
        torch.ops.draggan_fast.bias_act(x, b, 1, "swish", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"b must be \[4\]"):
        torch.ops.draggan_fast.bias_act(x, b[:3], 1, "linear", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="dim 3 is out of range"):
        torch.ops.draggan_fast.bias_act(x, b, 3, "linear", 0.0, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        torch.ops.draggan_fast.bias_act(x.half(), b.half(), 1, "linear", 0.0, 1.0, -1.0)


# --- the reference against independent formulations of the official semantics ---


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid"])
def test_bias_act_definition(act):
    torch.manual_seed(1)
    x, b = torch.randn(2, 4, 3, 3), torch.randn(4)
    y = x + b.reshape(1, -1, 1, 1)
    funcs = {
        "linear": lambda v: v,
        "relu": F.relu,
        "lrelu": lambda v: F.leaky_relu(v, 0.2),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }
    _, gain = activation_defaults(act)
    expected = (funcs[act](y) * gain).clamp(-0.5, 0.5)
    torch.testing.assert_close(bias_act_reference(x, b, act=act, clamp=0.5), expected)


def test_bias_act_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act_reference(torch.zeros(1, 1), act="swish")
