"""Fake kernel and autograd formulas of the compiled `draggan_fast::modulated_conv2d` and its
implicit-GEMM twin `draggan_fast::modulated_conv2d_implicit_gemm` (CUDA; same math), attached
to both ops by registration.py (the module the C++ library names: torch checks where a fake
kernel is registered from).

The forward (csrc/cuda/modulated_conv2d.cu) computes, per sample n:
    pre[n] = conv(x[n], w[n]) + noise + bias,    y[n] = clamp(act(pre[n]) * gain)
with w[n] = weight * styles[n] (over C_in), demodulated by rsqrt(sum of squares + 1e-8), and
conv a same-padded convolution (up = 1) or a transposed stride-2 convolution followed by the
4x4 FIR filter (up = 2). The backward here reuses aten's convolution_backward (cuDNN) for the
convolution and differentiates the modulation in closed form on the small weight tensors. The
activation's slope is read from y, exact for linear, relu and lrelu (the only fused activations).
For float16 the official pre-normalisation scales are held constant: the demodulated weights do
not depend on them (up to the 1e-8 epsilon).
"""

import math

import torch

from draggan_fast.stylegan.ops.shapes import (
    modulated_conv2d_output_shape,
    upfirdn2d_backward_padding,
)

_ops = torch.ops.draggan_fast


OPS = ("draggan_fast::modulated_conv2d", "draggan_fast::modulated_conv2d_implicit_gemm")


def fake(
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


def setup(ctx, inputs, output):
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


def backward(ctx, grad_y):
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
        grad_full = _ops.upfirdn2d(
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
