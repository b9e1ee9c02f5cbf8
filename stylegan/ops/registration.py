"""Fake kernels and autograd of the `torch.ops.draggan_fast.*` ops defined in csrc/ext.cpp.

Imported by `extension.load()` right after the extension (and named by the C++ library via
`set_python_module`), so every op is traceable by torch.compile and differentiable wherever it
is used. Autograd lives on the op itself, so eager, opcheck and compiled graphs share it.
"""

import torch

from draggan_fast.stylegan.ops import modulated_conv2d_autograd
from draggan_fast.stylegan.ops.shapes import upfirdn2d_backward_padding, upfirdn2d_output_shape

_ops = torch.ops.draggan_fast
PIECEWISE_LINEAR = ("linear", "relu", "lrelu")


# --- fake kernels (shapes and dtypes only) -----------------------------------------------------


@torch.library.register_fake("draggan_fast::bias_act")
def _bias_act_fake(x, b, dim, act, alpha, gain, clamp):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


@torch.library.register_fake("draggan_fast::bias_act_grad")
def _bias_act_grad_fake(grad_y, x, b, dim, act, alpha, gain, clamp):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


@torch.library.register_fake("draggan_fast::upfirdn2d")
def _upfirdn2d_fake(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain):
    shape = upfirdn2d_output_shape(
        x.shape, f.shape, (upx, upy), (downx, downy), (padx0, padx1, pady0, pady1)
    )
    return torch.empty(shape, dtype=x.dtype, device=x.device)


# --- bias_act: d/dx via bias_act_grad, d/db as its sum ----------------------------------------


def _reduce_to_bias(grad, x, dim):
    axis = dim % x.ndim
    return grad.sum([i for i in range(x.ndim) if i != axis])


def _bias_act_setup(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(x, b)
    ctx.params = (dim, act, alpha, gain, clamp)


def _bias_act_backward(ctx, grad_y):
    x, b = ctx.saved_tensors
    grad_x = _ops.bias_act_grad(grad_y.contiguous(), x, b, *ctx.params)
    grad_b = _reduce_to_bias(grad_x, x, ctx.params[0]) if b is not None else None
    return grad_x, grad_b, None, None, None, None, None


torch.library.register_autograd(
    "draggan_fast::bias_act", _bias_act_backward, setup_context=_bias_act_setup
)


def _bias_act_grad_setup(ctx, inputs, output):
    grad_y, x, b, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(grad_y, x, b)
    ctx.params = (dim, act, alpha, gain, clamp)


def _bias_act_grad_backward(ctx, grad_grad_x):
    """Second order: bias_act_grad is linear in grad_y; its slope in x + b is the activation's
    second derivative (zero almost everywhere for linear, relu and lrelu)."""
    grad_y, x, b = ctx.saved_tensors
    dim, act, _alpha, gain, clamp = ctx.params
    grad_grad_y = _ops.bias_act_grad(grad_grad_x.contiguous(), x, b, *ctx.params)
    if act in PIECEWISE_LINEAR:
        return grad_grad_y, None, None, None, None, None, None, None
    pre = x if b is None else x + b.reshape([-1 if i == dim % x.ndim else 1 for i in range(x.ndim)])
    activated = torch.tanh(pre) if act == "tanh" else torch.sigmoid(pre)
    inside = (activated * gain).abs() <= clamp if clamp >= 0 else torch.ones_like(pre, dtype=bool)
    if act == "tanh":
        second = -2 * activated * (1 - activated * activated)
    else:
        second = activated * (1 - activated) * (1 - 2 * activated)
    grad_pre = grad_grad_x * grad_y * gain * second * inside
    grad_b = _reduce_to_bias(grad_pre, x, dim) if b is not None else None
    return grad_grad_y, grad_pre, grad_b, None, None, None, None, None


torch.library.register_autograd(
    "draggan_fast::bias_act_grad", _bias_act_grad_backward, setup_context=_bias_act_grad_setup
)


# --- upfirdn2d: the gradient is upfirdn2d of grad_y with the filter flipped, up and down swapped


def _upfirdn2d_setup(ctx, inputs, output):
    x, f, upx, upy, downx, downy, padx0, _padx1, pady0, _pady1, flip_filter, gain = inputs
    ctx.save_for_backward(f)
    ctx.params = (upx, upy, downx, downy, padx0, pady0, flip_filter, gain)
    ctx.in_size = (x.shape[2], x.shape[3])


def _upfirdn2d_backward(ctx, grad_y):
    (f,) = ctx.saved_tensors
    upx, upy, downx, downy, padx0, pady0, flip_filter, gain = ctx.params
    padding = upfirdn2d_backward_padding(
        ctx.in_size, grad_y.shape[2:], f.shape, (upx, upy), (downx, downy), (padx0, pady0)
    )
    grad_x = _ops.upfirdn2d(
        grad_y.contiguous(), f, downx, downy, upx, upy, *padding, not flip_filter, gain
    )
    return grad_x, None, None, None, None, None, None, None, None, None, None, None


torch.library.register_autograd(
    "draggan_fast::upfirdn2d", _upfirdn2d_backward, setup_context=_upfirdn2d_setup
)

for _op in modulated_conv2d_autograd.OPS:
    torch.library.register_fake(_op)(modulated_conv2d_autograd.fake)
    torch.library.register_autograd(
        _op, modulated_conv2d_autograd.backward, setup_context=modulated_conv2d_autograd.setup
    )
