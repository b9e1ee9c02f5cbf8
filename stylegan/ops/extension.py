"""The compiled extension `draggan_fast._C` (csrc/): loaded once per process, and the
"compiled" implementation each generator op registers with `draggan_fast.dispatch`.

The extension is optional: it is built ahead of time by `pip install` (never inside a user's
process). A failure to import it (not built, e.g. installed with `DRAGGAN_FAST_NO_EXT=1`; built
against another torch; a stale build whose schemas differ) is cached with its reason, warned
about once, and never retried. Importing it defines the `torch.ops.draggan_fast.*` kernels;
each op file then attaches its fake kernel and autograd (`on_load`).
"""

import importlib
import threading
import warnings
from collections.abc import Callable

import torch

from draggan_fast.dispatch import Implementation

_lock = threading.RLock()
_loaded = False
_module = None
_failure: str | None = None
_registrations: list[Callable[[], None]] = []

# dtypes the compiled kernels take, per device type (other dtypes run the reference, per call).
KERNEL_DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float32, torch.float16, torch.bfloat16, torch.float64),
}
# Why `auto` runs the reference on CUDA for every generator op: the measurement, cited by section.
H200_GENERATOR = (
    "the 512 px generator's forward+backward was faster with the reference ops than with any set "
    'of compiled ones on an H200 (benches/RESULTS.md, "H200: drag step, CUDA graph, compiled ops, '
    'Triton kernels")'
)


def on_load(register: Callable[[], None]) -> None:
    """Run `register` (an op file's fake kernel and autograd registration) once the extension
    has loaded, or now if it already has. It must be called from the op's own file: torch checks
    that a fake kernel comes from the module the schema names (csrc/ext.cpp)."""
    with _lock:
        if not _loaded:
            _registrations.append(register)
        elif _module is not None:
            register()


def load():
    """The `draggan_fast._C` module, or None if it is unavailable (see `failure()`)."""
    global _loaded, _module, _failure
    if _loaded:
        return _module
    with _lock:
        if not _loaded:
            try:
                _module = importlib.import_module("draggan_fast._C")
                for register in _registrations:
                    register()
            # ImportError: missing, or built against another torch (undefined symbol);
            # RuntimeError: a stale build whose schemas differ from this Python code.
            except (ImportError, OSError, RuntimeError) as exc:
                _module = None
                _failure = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    "draggan_fast: the compiled generator ops are unavailable, using the "
                    f"reference ops ({_failure})",
                    RuntimeWarning,
                    stacklevel=3,
                )
            _loaded = True
    return _module


def failure() -> str | None:
    """Why the extension could not be loaded (None if it loaded or was never tried)."""
    load()
    return _failure


def build_info() -> dict:
    """What the extension was built against: torch/CUDA versions, CUDA archs, compiler."""
    module = load()
    if module is None:
        return {"available": False, "reason": _failure}
    return {"available": True, **module.build_info()}


def has_kernel(op: str, device_type: str) -> bool:
    """True when the loaded extension registered a kernel of `draggan_fast::op` for the device
    type ("cpu", "cuda")."""
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(device_type)
    return key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(
        f"draggan_fast::{op}", key
    )


def compiled_ops() -> list[str]:
    """Names of the ops csrc/ext.cpp defines (those whose schema names a module of this package)."""
    if load() is None:
        return []
    names = [name for name in torch._C._dispatch_get_all_op_names() if "draggan_fast::" in name]
    return sorted(
        name.removeprefix("draggan_fast::")
        for name in names
        if (torch._C._dispatch_pystub(name, "") or ("",))[0].startswith(__package__ + ".")
    )


def takes_dtype(device_type: str, x: torch.Tensor) -> bool:
    """True when the compiled kernels of this device type take x's dtype."""
    return x.dtype in KERNEL_DTYPES.get(device_type, ())


def _dtype_note() -> str:
    """The dtypes the kernels take, per device type, as said in dispatch reasons."""
    parts = []
    for device_type, dtypes in KERNEL_DTYPES.items():
        names = "/".join(str(dtype).removeprefix("torch.") for dtype in dtypes)
        parts.append(f"{device_type}: {names} inputs")
    return ", ".join(parts)


def _unavailable(op: str, device_type: str) -> str | None:
    """Why the compiled `op` cannot run on this device type, or None."""
    if device_type == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available"
    if load() is None:
        return f"compiled extension not loaded ({failure()})"
    if not has_kernel(op, device_type):
        detail = " (built without CUDA)" if device_type == "cuda" else ""
        return f"no compiled {device_type.upper()} kernel for {op}{detail}"
    return None


def compiled_implementation(
    op: str,
    takes: str | None,
    measured_slower: dict[str, str],
    self_check: Callable[[torch.device], str | None],
) -> Implementation:
    """The "compiled" implementation of a generator op for `dispatch.register`.

    takes: the calls the kernel computes (None: every call with the dtypes of KERNEL_DTYPES);
    measured_slower: {device type: the measurement (RESULTS.md section) by which it loses};
    self_check(device): the op's comparison with its reference, run before the first use on
    CUDA (compiled CUDA code may never have met this GPU: arch, driver, toolkit).
    """
    note = f"C++/CUDA kernel ({takes or _dtype_note()}; others: reference)"

    def slower(device_type: str) -> str | None:
        figure = measured_slower.get(device_type)
        if figure is None:
            return None
        return f"measured slower than the reference here ({figure}; DRAGGAN_FAST_OPS=compiled)"

    def check(device_type: str) -> str | None:
        return self_check(torch.device("cuda")) if device_type == "cuda" else None

    return Implementation(
        "compiled",
        note,
        unavailable=lambda device_type: _unavailable(op, device_type),
        measured_slower=slower,
        self_check=check,
    )
