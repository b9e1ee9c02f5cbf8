"""modulated_conv2d: StyleGAN2's modulated convolution, and its fusion with bias_act.

This file holds the whole op: the public functions (dispatched), the plain-PyTorch reference
(`modulated_conv2d_reference`), the call into the compiled op (CUDA only: csrc/modulated_conv2d.h,
cuda/modulated_conv2d.cu) with its fake kernel and autograd, and the self-check of the compiled
op. Where the compiled op does not run, the reference runs with its resampling through
upfirdn2d's dispatch.

The compiled forward computes, per sample n:
    pre[n] = conv(x[n], w[n]) + noise + bias,    y[n] = clamp(act(pre[n]) * gain)
with w[n] = weight * styles[n] (over C_in), demodulated by rsqrt(sum of squares + 1e-8), and
conv a same-padded convolution (up = 1) or a transposed stride-2 convolution followed by the
4x4 FIR filter (up = 2). Its backward (here) reuses aten's convolution_backward (cuDNN) for the
convolution and differentiates the modulation in closed form on the small weight tensors. The
activation's slope is read from y, exact for the piecewise-linear activations (the only fused
ones). For float16 the official pre-normalisation scales are held constant: the demodulated
weights do not depend on them (up to the 1e-8 epsilon).
"""

import math

import torch

from draggan_fast import dispatch
from draggan_fast.stylegan.ops import extension, selfcheck
from draggan_fast.stylegan.ops.bias_act import (
    PIECEWISE_LINEAR,
    activation_scalars,
    bias_act,
    bias_act_reference,
)
from draggan_fast.stylegan.ops.conv2d_resample import conv2d_resample_reference
from draggan_fast.stylegan.ops.upfirdn2d import (
    setup_filter,
    upfirdn2d,
    upfirdn2d_backward_padding,
)


def modulated_conv2d(
    x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
    demodulate=True, flip_weight=True, fused_modconv=True,
):  # fmt: skip
    """StyleGAN2's modulated convolution.

    Args:
        x: [N, C_in, H, W].
        weight: [C_out, C_in, kh, kw].
        styles: [N, C_in].
        noise: broadcastable to the output [N, C_out, H', W'], or None.
        up, down, padding, resample_filter, flip_weight: as conv2d_resample's.
        demodulate: divide each output channel by the norm of its modulated weights (+1e-8).
        fused_modconv: one grouped convolution with per-sample weights; otherwise the
            activations are scaled before and after a shared convolution (same result).

    float16 inputs get the official pre-normalisation against overflow. The compiled op (CUDA)
    computes the fused formulation for either `fused_modconv` where dispatch chose it and it
    takes the arguments (`takes_modulated_conv2d`); elsewhere the reference runs with its
    resampling through upfirdn2d's dispatch.
    """
    if dispatch.runs("modulated_conv2d", x.device.type, "compiled") and takes_modulated_conv2d(
        x, weight, styles, noise, up, down, padding, resample_filter, flip_weight
    ):
        return modulated_conv2d_compiled(
            x, weight, styles, noise=noise, up=up, padding=padding,
            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
        )  # fmt: skip
    return modulated_conv2d_reference(
        x, weight, styles, noise=noise, up=up, down=down, padding=padding,
        resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
        fused_modconv=fused_modconv, resample=upfirdn2d,
    )  # fmt: skip


def modulated_conv2d_bias_act(
    x, weight, styles, bias, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
    flip_weight=True, fused_modconv=True, act="linear", gain=None, clamp=None,
):  # fmt: skip
    """`bias_act(modulated_conv2d(...), bias, act, gain, clamp)` as one op where compiled (CUDA,
    `act` in PIECEWISE_LINEAR), else the two in turn. bias: [C_out]; the other arguments as
    `modulated_conv2d`'s and `bias_act`'s."""
    if (
        dispatch.runs("modulated_conv2d", x.device.type, "compiled")
        and act in PIECEWISE_LINEAR
        and takes_modulated_conv2d(
            x, weight, styles, noise, up, 1, padding, resample_filter, flip_weight
        )
    ):
        return modulated_conv2d_compiled(
            x, weight, styles, noise=noise, up=up, padding=padding,
            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
            bias=bias.to(x.dtype), act=act, gain=gain, clamp=clamp,
        )  # fmt: skip
    x = modulated_conv2d(
        x, weight, styles, noise=noise, up=up, padding=padding, resample_filter=resample_filter,
        demodulate=demodulate, flip_weight=flip_weight, fused_modconv=fused_modconv,
    )  # fmt: skip
    return bias_act(x, bias.to(x.dtype), act=act, gain=gain, clamp=clamp)


def modulated_conv2d_reference(
    x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
    demodulate=True, flip_weight=True, fused_modconv=True, resample=None,
):  # fmt: skip
    """The definition, in plain PyTorch (the official StyleGAN2 numerics); see
    `modulated_conv2d`. `resample`: the upfirdn2d to run (default: `upfirdn2d_reference`)."""
    batch_size = x.shape[0]
    _, in_channels, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (
            1 / math.sqrt(in_channels * kh * kw)
            / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )  # fmt: skip
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(
            batch_size, 1, -1, 1, 1
        )  # [N, C_out, C_in, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, C_out]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample_reference(
            x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
            flip_weight=flip_weight, resample=resample,
        )  # fmt: skip
        if demodulate and noise is not None:
            return torch.addcmul(
                noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
            )
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])  # [1, N * C_in, H, W]
    w = w.reshape(-1, in_channels, kh, kw)  # [N * C_out, C_in, kh, kw]
    x = conv2d_resample_reference(
        x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
        groups=batch_size, flip_weight=flip_weight, resample=resample,
    )  # fmt: skip
    x = x.reshape(batch_size, -1, *x.shape[2:])  # [N, C_out, H', W']
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def modulated_conv2d_compiled(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None,
                              demodulate=True, flip_weight=True, bias=None, act="linear",
                              alpha=None, gain=None, clamp=None):  # fmt: skip
    """`torch.ops.draggan_fast.modulated_conv2d` for the generator's cases (see
    `takes_modulated_conv2d`), with the bias_act epilogue (`act` in PIECEWISE_LINEAR) when
    `bias`/`act`/`gain`/`clamp` are given (the caller checks that the op is compiled)."""
    alpha, gain, clamp = activation_scalars(act, alpha, gain, clamp)
    return torch.ops.draggan_fast.modulated_conv2d(
        x, weight, styles, noise, bias, resample_filter, up, padding, demodulate, flip_weight,
        act, alpha, gain, clamp,
    )  # fmt: skip


def takes_modulated_conv2d(x, weight, styles, noise, up, down, padding, resample_filter,
                           flip_weight):  # fmt: skip
    """True when the compiled modulated_conv2d computes these arguments."""
    _out_channels, in_channels, kernel_h, kernel_w = weight.shape
    if not isinstance(padding, int) or kernel_h != kernel_w or padding != kernel_h // 2:
        return False
    if kernel_h not in (1, 3) or down != 1 or up not in (1, 2) or flip_weight != (up == 1):
        return False
    if up == 2 and (resample_filter is None or tuple(resample_filter.shape) != (4, 4)):
        return False
    if x.ndim != 4 or x.shape[1] != in_channels or styles.shape != (x.shape[0], in_channels):
        return False
    float_types = (torch.float32, torch.float16)
    return (
        x.dtype in float_types and weight.dtype == torch.float32 and styles.dtype == torch.float32
        and (noise is None or noise.dtype in float_types)
    )  # fmt: skip


# --- shape, fake kernel and autograd of the compiled op ---------------------------------------


def modulated_conv2d_output_shape(x_shape, weight_shape, up, padding):
    """[N, C_out, H', W'] of a stride-1 (up = 1) or 2x up-sampling (up = 2) modulated conv."""
    batch_size, _, in_h, in_w = x_shape
    out_channels, _, kernel_h, kernel_w = weight_shape
    out_h = in_h * up + 2 * padding - kernel_h + 1 if up == 1 else in_h * up
    out_w = in_w * up + 2 * padding - kernel_w + 1 if up == 1 else in_w * up
    return [batch_size, out_channels, out_h, out_w]


def _fake(
    x, weight, styles, noise, bias, resample_filter, up, padding, demodulate, flip_weight, act,
    alpha, gain, clamp,
):  # fmt: skip
    shape = modulated_conv2d_output_shape(x.shape, weight.shape, up, padding)
    return torch.empty(shape, dtype=x.dtype, device=x.device)


def _prenormalize(weight, styles, x_dtype, demodulate):
    """(weight, styles, weight scale, styles scale) after the float16 pre-normalisation."""
    if not (x_dtype == torch.float16 and demodulate):
        return weight, styles, 1.0, 1.0
    fan_in = weight[0].numel()
    weight_scale = 1 / (math.sqrt(fan_in) * weight.abs().amax(dim=[1, 2, 3], keepdim=True))
    styles_scale = 1 / styles.abs().amax(dim=1, keepdim=True)
    return weight * weight_scale, styles * styles_scale, weight_scale, styles_scale


def _setup(ctx, inputs, output):
    x, weight, styles, noise, bias, resample_filter, up, padding, demodulate, _, act = inputs[:11]
    alpha, gain, clamp = inputs[11:]
    ctx.save_for_backward(x, weight, styles, resample_filter, output)
    ctx.params = (up, padding, demodulate, act, alpha, gain, clamp)
    ctx.noise_shape = None if noise is None else noise.shape
    ctx.noise_dtype = None if noise is None else noise.dtype
    ctx.bias_dtype = None if bias is None else bias.dtype


def _activation_backward(grad_y, y, act, alpha, gain, clamp):
    """d loss / d pre from y = clamp(act(pre) * gain) for linear, relu and lrelu.

    Only the clamped y is at hand, and |y| == clamp both exactly at the edge and beyond it, so
    the edge counts as outside (no gradient; `<=` would pass it for every clamped value). This
    is the reference's autograd on torch with the minimum-norm clamp subgradient (2.14 here;
    older torch passes 1 at the bounds, pytorch/pytorch#184574) and the official CUDA
    bias_act's rule (`yref < clamp`), which the C++/CUDA bias_act kernels follow too.
    """
    grad = grad_y * gain
    if clamp >= 0:
        grad = torch.where(y.abs() < clamp, grad, torch.zeros_like(grad))
    if act == "relu":
        grad = torch.where(y > 0, grad, torch.zeros_like(grad))
    elif act == "lrelu":
        grad = torch.where(y > 0, grad, grad * alpha)
    return grad


def _backward(ctx, grad_y):
    x, weight, styles, resample_filter, y = ctx.saved_tensors
    up, padding, demodulate, act, alpha, gain, clamp = ctx.params
    batch, in_channels = x.shape[:2]
    out_channels, _, kernel, _ = weight.shape
    grad_pre = _activation_backward(grad_y, y, act, alpha, gain, clamp)  # [N, C_out, H', W']
    grad_bias = None
    if ctx.bias_dtype is not None:
        grad_bias = grad_pre.sum(dim=[0, 2, 3]).to(ctx.bias_dtype)
    grad_noise = None
    if ctx.noise_shape is not None:
        grad_noise = grad_pre.sum_to_size(ctx.noise_shape).to(ctx.noise_dtype)

    # Modulated weights, recomputed in float32: w = m * dcoefs with m = weight * styles.
    weight_n, styles_n, weight_scale, styles_scale = _prenormalize(
        weight, styles, x.dtype, demodulate
    )
    modulated = weight_n.unsqueeze(0) * styles_n.reshape(batch, 1, -1, 1, 1)  # [N, O, I, k, k]
    dcoefs = None
    weights = modulated
    if demodulate:
        dcoefs = (modulated.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        weights = modulated * dcoefs

    x_groups = x.reshape(1, batch * in_channels, *x.shape[2:])
    grad_groups = grad_pre.reshape(1, batch * out_channels, *grad_pre.shape[2:])
    mask = [True, True, False]
    if up == 1:
        conv_weight = weights.reshape(batch * out_channels, in_channels, kernel, kernel)
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_groups, x_groups, conv_weight.to(x.dtype), None, [1, 1], [padding, padding],
            [1, 1], False, [0, 0], batch, mask,
        )  # fmt: skip
        grad_w = grad_w.reshape(batch, out_channels, in_channels, kernel, kernel)
    else:
        full_size = ((x.shape[2] - 1) * 2 + kernel, (x.shape[3] - 1) * 2 + kernel)
        pad = upfirdn2d_backward_padding(
            full_size, grad_groups.shape[2:], resample_filter.shape, (1, 1), (1, 1), (1, 1)
        )
        grad_full = torch.ops.draggan_fast.upfirdn2d(
            grad_groups.contiguous(), resample_filter, 1, 1, 1, 1, *pad, True, 4.0
        )
        conv_weight = weights.transpose(1, 2).reshape(
            batch * in_channels, out_channels, kernel, kernel
        )
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_full, x_groups, conv_weight.to(x.dtype), None, [2, 2], [0, 0], [1, 1], True,
            [0, 0], batch, mask,
        )  # fmt: skip
        grad_w = grad_w.reshape(batch, in_channels, out_channels, kernel, kernel).transpose(1, 2)

    # d/d modulated of weights = modulated * rsqrt(sum(modulated^2) + eps).
    grad_w = grad_w.to(weight.dtype)
    grad_modulated = grad_w
    if demodulate:
        inner = (grad_w * modulated).sum(dim=[2, 3, 4], keepdim=True)
        grad_modulated = grad_w * dcoefs - modulated * dcoefs.pow(3) * inner
    grad_weight = (grad_modulated * styles_n.reshape(batch, 1, -1, 1, 1)).sum(0) * weight_scale
    grad_styles = (grad_modulated * weight_n.unsqueeze(0)).sum(dim=[1, 3, 4]) * styles_scale
    return (
        grad_x.reshape(x.shape), grad_weight, grad_styles, grad_noise, grad_bias,
        None, None, None, None, None, None, None, None, None,
    )  # fmt: skip


def _register_compiled():
    """Called once the extension has loaded; from this file, the module csrc/ext.cpp names."""
    torch.library.register_fake("draggan_fast::modulated_conv2d")(_fake)
    torch.library.register_autograd(
        "draggan_fast::modulated_conv2d", _backward, setup_context=_setup
    )


extension.on_load(_register_compiled)


# --- self-check of the compiled op and dispatch ----------------------------------------------


def _reference_with_epilogue(x, weight, styles, *, bias=None, act="linear", gain=None,
                             clamp=None, **conv):  # fmt: skip
    """The reference with `modulated_conv2d_compiled`'s signature (its fused epilogue)."""
    out = modulated_conv2d_reference(x, weight, styles, **conv)
    if bias is None and act == "linear" and gain is None and clamp is None:
        return out
    bias = None if bias is None else bias.to(out.dtype)
    return bias_act_reference(out, bias, act=act, gain=gain, clamp=clamp)


def _self_check_cases(device, dtype, generator):
    x = selfcheck.random([2, 4, 6, 6], device, dtype, generator)
    styles = selfcheck.random([2, 4], device, torch.float32, generator)
    f = setup_filter([1, 3, 3, 1]).to(device)
    for up, kernel, demodulate in ((1, 3, True), (2, 3, True), (1, 1, False)):
        weight = selfcheck.random([5, 4, kernel, kernel], device, torch.float32, generator)
        noise = selfcheck.random([12 if up == 2 else 6] * 2, device, dtype, generator)

        def run(impl, x, weight, styles, up=up, demodulate=demodulate, noise=noise):
            return impl(
                x, weight, styles, noise=noise, up=up, padding=weight.shape[-1] // 2,
                resample_filter=f, demodulate=demodulate, flip_weight=(up == 1),
            )  # fmt: skip

        yield run, (x, weight, styles)

    # The fused epilogue: bias, lrelu, gain and clamp.
    weight = selfcheck.random([5, 4, 3, 3], device, torch.float32, generator)
    bias = selfcheck.random([5], device, dtype, generator)

    def run_fused(impl, x, weight, styles, bias):
        return impl(x, weight, styles, padding=1, bias=bias, act="lrelu", gain=1.5, clamp=0.8)

    yield run_fused, (x, weight, styles, bias)


def self_check(device: torch.device) -> str | None:
    """None if the compiled op agrees with the reference on `device` (values and gradients,
    float32 and float16), else the problem."""
    return selfcheck.run(
        _self_check_cases, (torch.float32, torch.float16), device, modulated_conv2d_compiled,
        _reference_with_epilogue,
    )  # fmt: skip


dispatch.register(
    "modulated_conv2d",
    "generator",
    [
        extension.compiled_implementation(
            "modulated_conv2d",
            "cuda: 3x3 or 1x1 same-padded conv, up 1 or 2 with a 4x4 filter, float32/float16 x",
            {"cuda": extension.H200_GENERATOR},
            lambda d: self_check(d),
        ),
        dispatch.Implementation("reference", "plain PyTorch (modulated_conv2d_reference)"),
    ],
)
