"""Generator ops used by the networks. Each name here is the op's public face."""

from draggan_fast.stylegan.ops.reference import (
    bias_act,
    conv2d_resample,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

__all__ = [
    "bias_act",
    "conv2d_resample",
    "modulated_conv2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
