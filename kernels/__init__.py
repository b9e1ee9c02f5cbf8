"""Drag ops: motion supervision, mask term and point tracking, without the upsampled map.

Each op has a plain-PyTorch reference (`*_reference`, the definition), a Triton kernel (CUDA), a
vectorised PyTorch implementation (CPU and fallback) and a `torch.library` registration
(`torch.ops.draggan_fast.*`, with fake kernels and autograd). `describe_dispatch(device)` says
which implementation runs where and why. Coordinates are (row, col) image pixels.
"""

from draggan_fast.kernels.dispatch import describe_dispatch
from draggan_fast.kernels.mask import mask_loss, mask_loss_reference
from draggan_fast.kernels.motion import motion_loss, motion_loss_reference
from draggan_fast.kernels.stencil import sample_upsampled
from draggan_fast.kernels.tracking import track_handles, track_handles_reference

__all__ = [
    "describe_dispatch",
    "mask_loss",
    "mask_loss_reference",
    "motion_loss",
    "motion_loss_reference",
    "sample_upsampled",
    "track_handles",
    "track_handles_reference",
]
