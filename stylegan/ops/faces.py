"""The generator ops' public faces: each call runs the compiled op when `dispatch` chose it for
the input's device and the kernel takes the inputs, else the reference (same signatures).

Every branch depends only on devices, dtypes, shapes and cached decisions, so torch.compile
traces a face into one graph with the chosen op inside.
"""

import torch

from draggan_fast.stylegan.ops import compiled, reference
from draggan_fast.stylegan.ops.dispatch import takes_dtype, use_compiled


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """`act(x + b) * gain` clamped to [-clamp, clamp]; see `reference.bias_act`."""
    device_type = x.device.type
    same_dtype = b is None or b.dtype == x.dtype
    if use_compiled("bias_act", device_type) and same_dtype and takes_dtype(device_type, x):
        return compiled.bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return reference.bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Up-sample, pad, FIR-filter, down-sample; see `reference.upfirdn2d`."""
    device_type = x.device.type
    if (
        use_compiled("upfirdn2d", device_type)
        and takes_dtype(device_type, x)
        and (f is None or (f.dtype == torch.float32 and f.ndim <= 2))
    ):
        return compiled.upfirdn2d(x, f, up=up, down=down, padding=padding,
                                  flip_filter=flip_filter, gain=gain)  # fmt: skip
    return reference.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter,
                               gain=gain)  # fmt: skip


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1):
    """FIR up-sampling through `upfirdn2d`'s dispatch; see `reference.upsample2d`."""
    return reference.upsample2d(x, f, up=up, padding=padding, flip_filter=flip_filter,
                                gain=gain, resample=upfirdn2d)  # fmt: skip


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True):
    """Convolution with FIR resampling through `upfirdn2d`'s dispatch."""
    return reference.conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                                     flip_weight=flip_weight, resample=upfirdn2d)  # fmt: skip


def modulated_conv2d(
    x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
    demodulate=True, flip_weight=True, fused_modconv=True,
):  # fmt: skip
    """StyleGAN2's modulated convolution; see `reference.modulated_conv2d`.

    The compiled op (CUDA) computes the fused formulation for either `fused_modconv`; elsewhere
    the reference runs with its resampling through `upfirdn2d`'s dispatch.
    """
    device_type = x.device.type
    if use_compiled("modulated_conv2d", device_type) and compiled.takes_modulated_conv2d(
        x, weight, styles, noise, up, down, padding, resample_filter, flip_weight
    ):
        return compiled.modulated_conv2d(
            x, weight, styles, noise=noise, up=up, padding=padding,
            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
        )  # fmt: skip
    return reference.modulated_conv2d(
        x, weight, styles, noise=noise, up=up, down=down, padding=padding,
        resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
        fused_modconv=fused_modconv, resample=upfirdn2d,
    )  # fmt: skip


FUSED_ACTIVATIONS = ("linear", "relu", "lrelu")  # what the fused op's epilogue computes


def modulated_conv2d_bias_act(
    x, weight, styles, bias, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
    flip_weight=True, fused_modconv=True, act="linear", gain=None, clamp=None,
):  # fmt: skip
    """`bias_act(modulated_conv2d(...), bias, act, gain, clamp)` as one op where compiled (CUDA),
    else the two faces in turn. bias: [C_out]; see `modulated_conv2d` and `bias_act`."""
    if (
        use_compiled("modulated_conv2d", x.device.type)
        and act in FUSED_ACTIVATIONS
        and compiled.takes_modulated_conv2d(
            x, weight, styles, noise, up, 1, padding, resample_filter, flip_weight
        )
    ):
        return compiled.modulated_conv2d(
            x, weight, styles, noise=noise, up=up, padding=padding,
            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
            bias=bias.to(x.dtype), act=act, gain=gain, clamp=clamp,
        )  # fmt: skip
    x = modulated_conv2d(
        x, weight, styles, noise=noise, up=up, padding=padding, resample_filter=resample_filter,
        demodulate=demodulate, flip_weight=flip_weight, fused_modconv=fused_modconv,
    )  # fmt: skip
    return bias_act(x, bias.to(x.dtype), act=act, gain=gain, clamp=clamp)
