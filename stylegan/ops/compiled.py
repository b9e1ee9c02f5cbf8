"""Calls into the compiled ops (`torch.ops.draggan_fast.*`) with the reference's signatures.

Each function takes the same arguments as its twin in `reference` and resolves them to the op
schema (default alpha/gain, padding tuples, separable filters as two 1D passes). Callers check
first that the op is compiled for the device (see `dispatch`); `faces` does that.
"""

import math

import torch

from draggan_fast.stylegan.ops.dispatch import modulated_conv2d_algorithm
from draggan_fast.stylegan.ops.reference import _pair, activation_defaults, parse_padding


def _activation_scalars(act, alpha, gain, clamp):
    """The op schema's (alpha, gain, clamp): None = the activation's default alpha/gain, and
    -1.0 for no clamping (None or negative)."""
    def_alpha, def_gain = activation_defaults(act)
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    clamp = -1.0 if clamp is None or clamp < 0 else float(clamp)
    return alpha, gain, clamp


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    alpha, gain, clamp = _activation_scalars(act, alpha, gain, clamp)
    return torch.ops.draggan_fast.bias_act(x, b, dim, act, alpha, gain, clamp)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """f: [fh, fw], [ft] (separable: a horizontal then a vertical pass) or None (1x1)."""
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if f.ndim == 1:
        pass_gain = math.sqrt(gain)
        rows = torch.ops.draggan_fast.upfirdn2d(
            x, f.unsqueeze(0), upx, 1, downx, 1, padx0, padx1, 0, 0, flip_filter, pass_gain
        )
        return torch.ops.draggan_fast.upfirdn2d(
            rows, f.unsqueeze(1), 1, upy, 1, downy, 0, 0, pady0, pady1, flip_filter, pass_gain
        )
    return torch.ops.draggan_fast.upfirdn2d(
        x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, float(gain)
    )


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None,
                     demodulate=True, flip_weight=True, bias=None, act="linear", alpha=None,
                     gain=None, clamp=None, algorithm=None):  # fmt: skip
    """The fused CUDA op for the generator's cases (see `takes_modulated_conv2d`), with the
    bias_act epilogue (`act` linear, relu or lrelu) when `bias`/`act`/`gain`/`clamp` are given.
    `algorithm`: "cudnn" or "implicit_gemm" (up = 1 only; up = 2 always runs cuDNN); None: the
    configured one (`dispatch.modulated_conv2d_algorithm`)."""
    alpha, gain, clamp = _activation_scalars(act, alpha, gain, clamp)
    if algorithm is None:
        algorithm = modulated_conv2d_algorithm()
    op = torch.ops.draggan_fast.modulated_conv2d
    if algorithm == "implicit_gemm" and up == 1:
        op = torch.ops.draggan_fast.modulated_conv2d_implicit_gemm
    return op(
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
