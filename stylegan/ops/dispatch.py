"""Which implementation each generator op runs on each device, and why.

Per (op, device type) the choice is made once and cached: the compiled op when the extension
loaded, has a kernel for that device, is not measured slower than the reference there
(MEASURED_SLOWER) and (on CUDA) passed its first-use self-check against the reference; the
reference otherwise. `DRAGGAN_FAST_OPS` overrides the choice: `auto` (the default, as above),
`reference` (no compiled op), `compiled` (every compiled op, measured slower or not), or a
comma-separated list of the ops to run compiled (e.g. `bias_act,upfirdn2d`).
Per call, the faces also fall back to the reference for inputs a kernel does not take (e.g. a
float16 tensor on the CPU); `describe_dispatch` states those limits in its reasons.
"""

import os
import threading
import warnings

import torch

from draggan_fast.stylegan.ops import extension

OPS = ("bias_act", "upfirdn2d", "modulated_conv2d")
OPT_OUT_VARIABLE = "DRAGGAN_FAST_OPS"
# (op, device type) -> the measurement by which the compiled op loses to the reference there;
# `auto` runs the reference for these (benches/RESULTS.md, "H200: drag step, CUDA graph, compiled
# ops, Triton kernels", has the runs).
# On an H200 the 512 px generator's forward+backward (what a drag step runs) took 25.9 ms with
# the reference ops and 29.7-34.9 ms with any set of compiled ones, eager, in one run.
_H200_GENERATOR = "H200, 512 px generator forward+backward: reference ops 25.9 ms, compiled {}"
MEASURED_SLOWER: dict[tuple[str, str], str] = {
    ("bias_act", "cuda"): _H200_GENERATOR.format("bias_act 34.9 ms, all three 31.6 ms"),
    ("upfirdn2d", "cuda"): _H200_GENERATOR.format("bias_act+upfirdn2d 29.7 ms, all 31.6 ms"),
    ("modulated_conv2d", "cuda"): _H200_GENERATOR.format(
        "bias_act+modulated_conv2d 30.6 ms, all 31.6 ms"
    ),
}
# The CUDA modulated_conv2d algorithm (for up = 1; up = 2 always runs cuDNN): "cudnn" (cuDNN
# convolution with fused prologue/epilogue kernels) or "implicit_gemm" (one kernel). Decided by
# benches/bench_ops.py on an H200: cuDNN was faster in every layer of the 512 px generator, fp32
# and fp16 (1.0-2.3x; RESULTS.md).
MODULATED_CONV_VARIABLE = "DRAGGAN_FAST_MODCONV"
MODULATED_CONV_ALGORITHMS = ("cudnn", "implicit_gemm")
MODULATED_CONV_DEFAULT = "cudnn"

# dtypes each compiled kernel takes, per device type (other dtypes run the reference).
KERNEL_DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float32, torch.float16, torch.bfloat16, torch.float64),
}
_MODULATED_CONV_NOTE = (
    "3x3 or 1x1 conv with same padding, up 1 or 2 with a 4x4 filter, float32/float16 inputs"
)

_lock = threading.Lock()
_choices: dict[tuple[str, str], tuple[str, str]] = {}
_algorithm: str | None = None  # the CUDA modulated_conv2d algorithm, once read


def _selection() -> tuple[str, frozenset]:
    """(mode, ops) from DRAGGAN_FAST_OPS: mode "auto", "reference", "compiled" or "list"."""
    value = os.environ.get(OPT_OUT_VARIABLE, "auto").strip().lower()
    if value in ("auto", ""):
        return "auto", frozenset()
    if value in ("reference", "compiled"):
        return value, frozenset()
    names = frozenset(name.strip() for name in value.split(","))
    if not names <= set(OPS):
        raise ValueError(
            f"{OPT_OUT_VARIABLE} must be 'auto', 'reference', 'compiled' or a comma-separated "
            f"list of {', '.join(OPS)}; got {value!r}"
        )
    return "list", names


def _opted_out(op: str) -> str | None:
    """Why DRAGGAN_FAST_OPS sends `op` to the reference, or None."""
    mode, names = _selection()
    if mode == "reference" or (mode == "list" and op not in names):
        return f"opted out ({OPT_OUT_VARIABLE}={os.environ[OPT_OUT_VARIABLE].strip()})"
    return None


def _measured_slower(op: str, device_type: str) -> str | None:
    """Why `auto` sends `op` to the reference on this device type by measurement, or None."""
    slower = MEASURED_SLOWER.get((op, device_type))
    if _selection()[0] == "auto" and slower is not None:
        return f"measured slower than the reference here ({slower}; {OPT_OUT_VARIABLE}=compiled)"
    return None


def _dtype_note(device_type: str) -> str:
    """The dtypes the kernels of a device type take, as said in dispatch reasons."""
    names = "/".join(str(dtype).removeprefix("torch.") for dtype in KERNEL_DTYPES[device_type])
    return f"{names} inputs"


def has_kernel(op: str, device_type: str) -> bool:
    """True when the loaded extension registered a kernel of `draggan_fast::op` for the device
    type ("cpu", "cuda")."""
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(device_type)
    return key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(
        f"draggan_fast::{op}", key
    )


def _decide(op: str, device_type: str) -> tuple[str, str]:
    opted_out = _opted_out(op)
    if opted_out:
        return "reference", opted_out
    if device_type == "cuda" and not torch.cuda.is_available():
        return "reference", "CUDA is not available"
    if extension.load() is None:
        return "reference", f"compiled extension not loaded ({extension.failure()})"
    if not has_kernel(op, device_type):
        detail = " (built without CUDA)" if device_type == "cuda" else ""
        return "reference", f"no compiled {device_type.upper()} kernel for {op}{detail}"
    slower = _measured_slower(op, device_type)
    if slower:
        return "reference", slower
    if device_type == "cuda":
        from draggan_fast.stylegan.ops.selfcheck import self_check

        problem = self_check(op, torch.device("cuda"))
        if problem is not None:
            warnings.warn(
                f"draggan_fast: compiled CUDA op {op} failed its self-check ({problem}); "
                "using the reference op",
                RuntimeWarning,
                stacklevel=4,
            )
            return "reference", f"CUDA self-check failed: {problem}"
        note = _dtype_note("cuda")
        if op == "modulated_conv2d":
            note = f"{_MODULATED_CONV_NOTE}; algorithm {modulated_conv2d_algorithm()}"
        return "compiled", f"CUDA kernel, self-check passed ({note}; others: reference)"
    return (
        "compiled",
        f"{device_type.upper()} kernel ({_dtype_note(device_type)}; others: reference)",
    )


def choice(op: str, device_type: str) -> tuple[str, str]:
    """(implementation, reason) for `op` on a device type ("cpu", "cuda"), decided once."""
    key = (op, device_type)
    if key not in _choices:
        with _lock:
            if key not in _choices:
                _choices[key] = _decide(op, device_type)
    return _choices[key]


@torch.compiler.assume_constant_result
def modulated_conv2d_algorithm() -> str:
    """The CUDA modulated_conv2d algorithm: $DRAGGAN_FAST_MODCONV, else the default.

    Read once, like the op choices (until `reset()`): the reason `describe_dispatch` gives names
    the algorithm every later call runs, and no call parses the environment again.
    """
    global _algorithm
    if _algorithm is None:
        value = os.environ.get(MODULATED_CONV_VARIABLE, MODULATED_CONV_DEFAULT).strip().lower()
        if value not in MODULATED_CONV_ALGORITHMS:
            raise ValueError(
                f"{MODULATED_CONV_VARIABLE} must be one of {MODULATED_CONV_ALGORITHMS}, "
                f"got {value!r}"
            )
        _algorithm = value
    return _algorithm


@torch.compiler.assume_constant_result
def use_compiled(op: str, device_type: str) -> bool:
    """True when `op` runs compiled on this device type (a constant for torch.compile)."""
    return choice(op, device_type)[0] == "compiled"


def takes_dtype(device_type: str, x: torch.Tensor) -> bool:
    """True when the compiled kernels of this device type take x's dtype."""
    return x.dtype in KERNEL_DTYPES.get(device_type, ())


def describe_dispatch(device: str) -> list[dict]:
    """[{op, implementation, reason}] for each generator op on `device` ("cpu", "cuda:0", ...).

    Derived ops (upsample2d, conv2d_resample) run through upfirdn2d's choice; on a device where
    modulated_conv2d is not compiled, its reference resamples through upfirdn2d's choice too.
    """
    device_type = torch.device(device).type
    rows = []
    for op in OPS:
        implementation, reason = choice(op, device_type)
        if op == "modulated_conv2d" and implementation == "reference":
            resample = choice("upfirdn2d", device_type)[0]
            reason += f"; its resampling uses the {resample} upfirdn2d"
        rows.append({"op": op, "implementation": implementation, "reason": reason})
    resample, _ = choice("upfirdn2d", device_type)
    for op in ("upsample2d", "conv2d_resample"):
        rows.append(
            {
                "op": op,
                "implementation": resample,
                "reason": f"runs through the {resample} upfirdn2d",
            }
        )
    return rows


def reset():
    """Forget every decision (tests that change DRAGGAN_FAST_OPS or DRAGGAN_FAST_MODCONV)."""
    global _algorithm
    with _lock:
        _choices.clear()
        _algorithm = None
