"""Drag ops: motion supervision, mask term and point tracking, without the upsampled map.

One file per op (kernels/motion.py, mask.py, tracking.py) holds its definition, the official
DragGAN math on the upsampled map (`motion_supervision`, `mask_term`, `track`: the reference step
calls them), the op's reference on the native map (`*_reference`), its `torch.library`
registration (`torch.ops.draggan_fast.*`, with fake kernel and autograd) and its dispatch;
beside it a Triton kernel (`<op>_triton.py`, CUDA) and vectorised PyTorch (`<op>_torch.py`, any
device). `draggan_fast.dispatch` chooses among them (DRAGGAN_FAST_OPS); `describe_dispatch(device)`
says which runs where and why. Coordinates are (row, col) image pixels.
"""

from draggan_fast import dispatch
from draggan_fast.kernels.mask import mask_loss, mask_loss_reference, mask_term
from draggan_fast.kernels.motion import (
    motion_disk,
    motion_loss,
    motion_loss_reference,
    motion_supervision,
)
from draggan_fast.kernels.stencil import sample_upsampled
from draggan_fast.kernels.tracking import track, track_handles, track_handles_reference

OPS = ("motion_loss", "mask_loss", "track_handles")


def describe_dispatch(device):
    """One dict per drag op: {"op", "implementation", "reason"} for `device` (e.g. "cuda"); "op"
    is the registered op's name (draggan_fast::<op>)."""
    rows = {row["op"]: row for row in dispatch.describe(device, family="drag")}
    return [
        {"op": f"draggan_fast::{op}", "implementation": rows[op]["implementation"],
         "reason": rows[op]["reason"]}
        for op in OPS
    ]  # fmt: skip


__all__ = [
    "OPS",
    "describe_dispatch",
    "mask_loss",
    "mask_loss_reference",
    "mask_term",
    "motion_disk",
    "motion_loss",
    "motion_loss_reference",
    "motion_supervision",
    "sample_upsampled",
    "track",
    "track_handles",
    "track_handles_reference",
]
