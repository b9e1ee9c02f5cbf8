"""The drag ops' implementations, as `draggan_fast.dispatch` names them.

  triton     kernels/<op>_triton.py: the CUDA path (needs a CUDA device and an importable Triton)
  torch      kernels/<op>_torch.py: vectorised PyTorch that gathers only the stencil taps it
             needs; runs on any device
  reference  the plain-PyTorch definition in kernels/<op>.py, on the materialised upsampled map

`drag_implementations(stem)` is the list each op file registers (auto's order of preference);
`fast_module(op, stem, device)` the module that the registered `torch.ops.draggan_fast.*` op
runs. The public functions run the reference themselves, outside the registered op, when dispatch
chooses it (the registered op is the fused path: it never builds the upsampled map).
"""

import functools
import importlib

import torch

from draggan_fast import dispatch
from draggan_fast.dispatch import Implementation


@functools.cache
def _triton_import_error():
    """None when Triton imports, else the reason it does not."""
    try:
        importlib.import_module("triton")
    except Exception as error:  # any import failure means no Triton path
        return f"Triton does not import ({type(error).__name__}: {error})"
    return None


def triton_unavailable(device_type: str) -> str | None:
    """Why the Triton kernels cannot run on `device_type` (None: they can)."""
    if device_type != "cuda":
        return f"the Triton kernels need a CUDA device, not {device_type}"
    return _triton_import_error()


def drag_implementations(stem: str) -> list[Implementation]:
    """Triton, vectorised PyTorch and the reference of the op in kernels/<stem>.py."""
    return [
        Implementation("triton", f"Triton kernel (kernels/{stem}_triton.py)", triton_unavailable),
        Implementation("torch", f"vectorised PyTorch on the native map (kernels/{stem}_torch.py)"),
        Implementation("reference", f"plain PyTorch on the upsampled map (kernels/{stem}.py)"),
    ]


def fast_module(op: str, stem: str, device: torch.device):
    """The module running `op` inside its registered torch.ops op on `device`: Triton's where
    dispatch chooses it, else the vectorised PyTorch one (also where it chooses the reference:
    the public function runs that before reaching the registered op)."""
    suffix = "triton" if dispatch.choose(op, device)[0] == "triton" else "torch"
    return importlib.import_module(f"draggan_fast.kernels.{stem}_{suffix}")
