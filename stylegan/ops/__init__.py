"""Generator ops used by the networks. Each name here is the op's public face: it runs the
compiled op (`draggan_fast._C`, csrc/) where it is available and correct for the device, else
the plain-PyTorch reference (`reference`). `describe_dispatch(device)` says which and why;
`DRAGGAN_FAST_OPS=reference` opts out of every compiled op."""

from draggan_fast.stylegan.ops import reference
from draggan_fast.stylegan.ops.dispatch import describe_dispatch
from draggan_fast.stylegan.ops.faces import (
    bias_act,
    conv2d_resample,
    modulated_conv2d,
    modulated_conv2d_bias_act,
    upfirdn2d,
    upsample2d,
)
from draggan_fast.stylegan.ops.reference import setup_filter

__all__ = [
    "bias_act",
    "conv2d_resample",
    "describe_dispatch",
    "modulated_conv2d",
    "modulated_conv2d_bias_act",
    "reference",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
