"""Loads the compiled extension `draggan_fast._C` once per process.

The extension is optional: it is built ahead of time by `pip install` (never inside a user's
process). A failure to import it (not built, e.g. installed with `DRAGGAN_FAST_NO_EXT=1`; built
against another torch; a stale build whose schemas differ) is cached with its reason, warned
about once, and never retried. Importing it registers the `torch.ops.draggan_fast.*` kernels;
`registration` then attaches fake kernels and autograd.
"""

import importlib
import threading
import warnings

_lock = threading.Lock()
_loaded = False
_module = None
_failure: str | None = None


def load():
    """The `draggan_fast._C` module, or None if it is unavailable (see `failure()`)."""
    global _loaded, _module, _failure
    if _loaded:
        return _module
    with _lock:
        if not _loaded:
            try:
                _module = importlib.import_module("draggan_fast._C")
                importlib.import_module("draggan_fast.stylegan.ops.registration")
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
