"""bias_act: `act(x + b) * gain`, clamped to [-clamp, clamp] (StyleGAN2's fused bias + activation).

This file holds the whole op: the public function (dispatched), the plain-PyTorch reference
(`bias_act_reference`), the call into the compiled op (csrc/bias_act.h, bias_act_cpu.cpp,
cuda/bias_act.cu) with its fake kernel and autograd, and the self-check of the compiled CUDA op.
"""

import math

import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.stylegan.ops import extension, selfcheck

# name -> (function(x, alpha), default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 0.0, 1.0),
    "relu": (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    "tanh": (lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
}
# Activations whose second derivative is zero almost everywhere and whose slope can be read from
# the output: the ones modulated_conv2d's compiled epilogue fuses.
PIECEWISE_LINEAR = ("linear", "relu", "lrelu")


def activation_defaults(act: str) -> tuple[float, float]:
    """(default alpha, default gain) of an activation."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[act][1], ACTIVATIONS[act][2]


def activation_scalars(act, alpha, gain, clamp) -> tuple[float, float, float]:
    """The compiled ops' (alpha, gain, clamp): None = the activation's default alpha/gain, and
    -1.0 for no clamping (None or negative)."""
    def_alpha, def_gain = activation_defaults(act)
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    clamp = -1.0 if clamp is None or clamp < 0 else float(clamp)
    return alpha, gain, clamp


def _channel_shape(x, dim):
    """[1, .., -1, .., 1]: a [C] tensor's shape broadcast along x's `dim`."""
    return [-1 if i == dim % x.ndim else 1 for i in range(x.ndim)]


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """`act(x + b) * gain`, then clamped to [-clamp, clamp].

    Args:
        x: [..., C, ...] with C at `dim`.
        b: [C] or None.
        act: "linear", "relu", "lrelu", "tanh" or "sigmoid".
        alpha, gain: None = the activation's default (lrelu: 0.2 and sqrt(2)).
        clamp: None or negative = no clamping.

    Runs the compiled op where `draggan_fast.dispatch` chose it for x's device and the kernel
    takes the dtypes, else `bias_act_reference`.
    """
    device_type = x.device.type
    if (
        dispatch.runs("bias_act", device_type, "compiled")
        and (b is None or b.dtype == x.dtype)
        and extension.takes_dtype(device_type, x)
    ):
        return bias_act_compiled(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_reference(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def bias_act_reference(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """The definition, in plain PyTorch (the official StyleGAN2 numerics); see `bias_act`."""
    def_alpha, def_gain = activation_defaults(act)
    func = ACTIVATIONS[act][0]
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    if b is not None:
        x = x + b.reshape(_channel_shape(x, dim))
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act_compiled(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """`torch.ops.draggan_fast.bias_act` with the reference's signature (the caller checks that
    the op is compiled for the device)."""
    alpha, gain, clamp = activation_scalars(act, alpha, gain, clamp)
    return torch.ops.draggan_fast.bias_act(x, b, dim, act, alpha, gain, clamp)


# --- fake kernels and autograd of the compiled op: d/dx via bias_act_grad, d/db as its sum -----


def _reduce_to_bias(grad, x, dim):
    axis = dim % x.ndim
    return grad.sum([i for i in range(x.ndim) if i != axis])


def _fake(x, b, dim, act, alpha, gain, clamp):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


def _grad_fake(grad_y, x, b, dim, act, alpha, gain, clamp):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)


def _setup(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(x, b)
    ctx.params = (dim, act, alpha, gain, clamp)


def _backward(ctx, grad_y):
    x, b = ctx.saved_tensors
    grad_x = torch.ops.draggan_fast.bias_act_grad(grad_y.contiguous(), x, b, *ctx.params)
    grad_b = _reduce_to_bias(grad_x, x, ctx.params[0]) if b is not None else None
    return grad_x, grad_b, None, None, None, None, None


def _grad_setup(ctx, inputs, output):
    grad_y, x, b, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(grad_y, x, b)
    ctx.params = (dim, act, alpha, gain, clamp)


def _grad_backward(ctx, grad_grad_x):
    """Second order: bias_act_grad is linear in grad_y; its slope in x + b is the activation's
    second derivative (zero almost everywhere for linear, relu and lrelu)."""
    grad_y, x, b = ctx.saved_tensors
    dim, act, _alpha, gain, clamp = ctx.params
    grad_grad_y = torch.ops.draggan_fast.bias_act_grad(grad_grad_x.contiguous(), x, b, *ctx.params)
    if act in PIECEWISE_LINEAR:
        return grad_grad_y, None, None, None, None, None, None, None
    pre = x if b is None else x + b.reshape(_channel_shape(x, dim))
    activated = torch.tanh(pre) if act == "tanh" else torch.sigmoid(pre)
    inside = (activated * gain).abs() <= clamp if clamp >= 0 else torch.ones_like(pre, dtype=bool)
    if act == "tanh":
        second = -2 * activated * (1 - activated * activated)
    else:
        second = activated * (1 - activated) * (1 - 2 * activated)
    grad_pre = grad_grad_x * grad_y * gain * second * inside
    grad_b = _reduce_to_bias(grad_pre, x, dim) if b is not None else None
    return grad_grad_y, grad_pre, grad_b, None, None, None, None, None


def _register_compiled():
    """Called once the extension has loaded; from this file, the module csrc/ext.cpp names."""
    torch.library.register_fake("draggan_fast::bias_act")(_fake)
    torch.library.register_fake("draggan_fast::bias_act_grad")(_grad_fake)
    torch.library.register_autograd("draggan_fast::bias_act", _backward, setup_context=_setup)
    torch.library.register_autograd(
        "draggan_fast::bias_act_grad", _grad_backward, setup_context=_grad_setup
    )


extension.on_load(_register_compiled)


# --- self-check of the compiled op and dispatch ----------------------------------------------


def _self_check_cases(device, dtype, generator):
    x = selfcheck.random([2, 5, 7, 3], device, dtype, generator)
    b = selfcheck.random([5], device, dtype, generator)
    for act, clamp in (("lrelu", 0.5), ("linear", None), ("tanh", None), ("sigmoid", 0.3)):

        def run(impl, x, b, act=act, clamp=clamp):
            return impl(x, b, act=act, clamp=clamp)

        yield run, (x, b)


def self_check(device: torch.device) -> str | None:
    """None if the compiled op agrees with the reference on `device` (values and gradients,
    every dtype the kernels take), else the problem."""
    dtypes = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    return selfcheck.run(_self_check_cases, dtypes, device, bias_act_compiled, bias_act_reference)


dispatch.register(
    "bias_act",
    "generator",
    [
        extension.compiled_implementation(
            "bias_act", None, {"cuda": extension.H200_GENERATOR}, lambda d: self_check(d)
        ),
        dispatch.Implementation("reference", "plain PyTorch (bias_act_reference)"),
    ],
)
