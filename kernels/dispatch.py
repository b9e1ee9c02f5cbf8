"""Which implementation of each drag op runs on a device, and why.

Implementations: "triton" (kernels/<op>_triton.py, the CUDA path) and "pytorch"
(kernels/<op>_cpu.py, vectorised PyTorch that gathers only the stencil taps it needs; it runs on
any device). The environment variable DRAGGAN_FAST_DRAG_OPS opts out of the fast path:
"pytorch" forces the vectorised PyTorch implementations everywhere, "triton" demands Triton (an
error where it cannot run), "auto" (the default) picks Triton on CUDA when it imports, else
PyTorch.
"""

import functools
import importlib
import os

import torch

ENV_VAR = "DRAGGAN_FAST_DRAG_OPS"
# op -> stem of its implementation modules (kernels/<stem>_triton.py, kernels/<stem>_cpu.py).
_MODULE_STEMS = {"motion_loss": "motion", "mask_loss": "mask", "track_handles": "tracking"}
OPS = tuple(_MODULE_STEMS)
_CHOICES = ("auto", "pytorch", "triton")

# op -> (implementation, reason) of its latest call, for debugging and tests
# (`describe_dispatch` answers from `choose`, not from this).
last_used: dict = {}


@functools.cache
def _triton_import_error():
    """None when Triton imports, else the reason it does not."""
    try:
        importlib.import_module("triton")
    except Exception as error:  # any import failure means no Triton path
        return f"{type(error).__name__}: {error}"
    return None


def _requested():
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in _CHOICES:
        raise ValueError(f"{ENV_VAR}={value!r} is not one of {', '.join(_CHOICES)}")
    return value


def choose(device):
    """(implementation, reason) for the drag ops on `device` (a torch.device or a string)."""
    device = torch.device(device)
    requested = _requested()
    if requested == "pytorch":
        return "pytorch", f"{ENV_VAR}=pytorch forces the vectorised PyTorch implementation"
    if device.type != "cuda":
        if requested == "triton":
            raise ValueError(
                f"{ENV_VAR}=triton, but the Triton kernels need a CUDA device, not {device}"
            )
        return "pytorch", f"{device.type} device: vectorised PyTorch (Triton is the CUDA path)"
    import_error = _triton_import_error()
    if import_error is not None:
        if requested == "triton":
            raise ValueError(f"{ENV_VAR}=triton, but Triton does not import: {import_error}")
        return "pytorch", f"Triton does not import ({import_error}); vectorised PyTorch on CUDA"
    return "triton", "CUDA device and Triton available"


def implementation(op, device):
    """The module implementing `op` on `device` (same function names in every implementation)."""
    name, reason = choose(device)
    last_used[op] = (name, reason)
    suffix = "triton" if name == "triton" else "cpu"
    return importlib.import_module(f"draggan_fast.kernels.{_MODULE_STEMS[op]}_{suffix}")


def describe_dispatch(device):
    """One dict per drag op: {"op", "implementation", "reason"} for `device` (e.g. "cuda")."""
    name, reason = choose(device)
    return [{"op": f"draggan_fast::{op}", "implementation": name, "reason": reason} for op in OPS]
