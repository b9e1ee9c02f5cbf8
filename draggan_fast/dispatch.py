"""One dispatch for every op: the drag ops (`kernels/`) and the generator ops (`stylegan/ops/`).

Implementation names, one set for both families:
  reference  the op's plain-PyTorch definition; every op has one and it runs anywhere
  torch      a vectorised PyTorch implementation (runs anywhere)
  triton     a Triton kernel (`kernels/<op>_triton.py`, CUDA)
  compiled   the C++/CUDA kernels of `draggan_fast._C` (`csrc/<op>*`)

Each op registers its implementations, in auto's order of preference, from its own file
(`register`). `choose(op, device)` answers (implementation, reason) and `describe(device)` one
row per op, which `draggan-fast info` prints.

`DRAGGAN_FAST_OPS` (read only by `requested`): comma-separated items, later ones winning:
  auto            (the default; as an item it changes nothing) each op runs its first
                  implementation that can run on the device and is not measured slower there
                  (the measurement is named in the reason)
  <implementation> every op that has this implementation and can run it on the device runs it
                  ("reference": no fast path); the others stay auto, their reason says why
  <op>=<impl>     one op, e.g. `bias_act=compiled,motion_loss=torch`; a ValueError naming why
                  when that implementation cannot run on the device
e.g. `DRAGGAN_FAST_OPS=reference,bias_act=compiled`; case-insensitive, spaces around items ignored.
An implementation with a self-check (e.g. compiled CUDA code against the reference) runs it once
per device type before its first use; if it fails, the op runs the next implementation (the
reference when it was asked for by name), with one warning, and the reason says so.
Decisions are cached per (op, device type, value of DRAGGAN_FAST_OPS): changing the variable
takes effect at the next call; self-checks run once (until `forget`).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

ENV_VAR = "DRAGGAN_FAST_OPS"
IMPLEMENTATIONS = ("reference", "torch", "triton", "compiled")


def _always(device_type: str) -> str | None:
    return None


@dataclass(frozen=True)
class Implementation:
    """One way to run an op. `unavailable(device_type)` says why it cannot run there (None: it
    can); `measured_slower(device_type)` why auto skips it there (None: auto may pick it);
    `note` what it is, for the reason when it runs; `self_check(device_type)` the problem found
    when it is compared with the reference before its first use there (None: it agrees)."""

    name: str
    note: str
    unavailable: Callable[[str], str | None] = _always
    measured_slower: Callable[[str], str | None] = _always
    self_check: Callable[[str], str | None] = _always


@dataclass(frozen=True)
class _Op:
    family: str
    implementations: tuple[Implementation, ...]


_ops: dict[str, _Op] = {}
_decisions: dict[tuple[str, str, str], tuple[str, str]] = {}
_self_checks: dict[tuple[str, str, str], str | None] = {}  # (op, implementation, device type)
_lock = threading.RLock()


def register(op: str, family: str, implementations: Sequence[Implementation]) -> None:
    """Declare `op`'s implementations, auto's preference first; one must be "reference"."""
    names = [impl.name for impl in implementations]
    unknown = [name for name in names if name not in IMPLEMENTATIONS]
    if unknown or "reference" not in names or len(set(names)) != len(names):
        raise ValueError(f"{op}: implementations must be distinct, among {IMPLEMENTATIONS} and "
                         f"include 'reference'; got {names}")  # fmt: skip
    with _lock:
        _ops[op] = _Op(family, tuple(implementations))
        for key in [key for key in _decisions if key[0] == op]:
            del _decisions[key]


def registered() -> dict[str, str]:
    """{op: family} of every op registered so far."""
    return {op: entry.family for op, entry in _ops.items()}


def requested(op: str, value: str | None = None) -> tuple[str, bool]:
    """What DRAGGAN_FAST_OPS (or `value`) asks for `op`: ("auto" or an implementation name,
    whether the op itself was named: `op=implementation`)."""
    value = os.environ.get(ENV_VAR, "auto") if value is None else value
    names = {impl.name for impl in _ops[op].implementations}
    wanted, by_op = "auto", False
    for item in (part.strip().lower() for part in value.split(",")):
        if item in ("", "auto"):
            continue
        target, _, name = item.rpartition("=")
        if name not in IMPLEMENTATIONS or (target and target not in _ops):
            raise ValueError(
                f"{ENV_VAR}={value!r}: {item!r} is not 'auto', an implementation "
                f"({', '.join(IMPLEMENTATIONS)}) or op=implementation with op among "
                f"{', '.join(_ops)}"
            )
        if target == op or (not target and name in names):
            if target and name not in names:
                raise ValueError(f"{ENV_VAR}={value!r}: {op} has no {name!r} implementation "
                                 f"(it has {', '.join(sorted(names))})")  # fmt: skip
            wanted, by_op = name, bool(target)
    return wanted, by_op


def _self_check(op: str, impl: Implementation, device_type: str) -> str | None:
    """The problem `impl`'s self-check found on this device type (run once, warned once)."""
    key = (op, impl.name, device_type)
    if key not in _self_checks:
        problem = impl.self_check(device_type)
        if problem is not None:
            warnings.warn(f"draggan_fast: the {impl.name} {op} failed its self-check on "
                          f"{device_type} ({problem}); it is not used", RuntimeWarning,
                          stacklevel=5)  # fmt: skip
        _self_checks[key] = problem
    return _self_checks[key]


def _decide(op: str, device_type: str, value: str) -> tuple[str, str]:
    wanted, by_op = requested(op, value)
    implementations = _ops[op].implementations
    skipped = []
    if wanted != "auto":
        (impl,) = [impl for impl in implementations if impl.name == wanted]
        problem = impl.unavailable(device_type)
        if problem is not None and by_op:
            raise ValueError(f"{ENV_VAR} asks for {op}={wanted}, which cannot run on "
                             f"{device_type}: {problem}")  # fmt: skip
        if problem is not None:
            skipped.append(f"{ENV_VAR} asks for {wanted}, which cannot run here: {problem}")
            wanted = "auto"
    if wanted != "auto":
        problem = _self_check(op, impl, device_type)
        if problem is None:
            return wanted, f"{ENV_VAR} asks for it: {impl.note}"
        (reference,) = [impl for impl in implementations if impl.name == "reference"]
        return (
            "reference",
            f"{reference.note}; {ENV_VAR} asks for {wanted}: self-check failed: {problem}",
        )
    for impl in implementations:
        problem = impl.unavailable(device_type) or impl.measured_slower(device_type)
        if problem is None:
            problem = _self_check(op, impl, device_type)
            problem = problem if problem is None else f"self-check failed: {problem}"
        if problem is None:
            reason = impl.note + "".join(f"; {s}" for s in skipped)
            return impl.name, reason
        skipped.append(f"not {impl.name}: {problem}")
    raise RuntimeError(f"{op}: no implementation can run on {device_type}")  # reference always can


def choose(op: str, device: torch.device | str) -> tuple[str, str]:
    """(implementation, reason) for `op` on `device`; cached per device type and setting."""
    device_type = torch.device(device).type
    key = (op, device_type, os.environ.get(ENV_VAR, "auto"))
    decision = _decisions.get(key)
    if decision is None:
        with _lock:
            decision = _decisions.get(key)
            if decision is None:
                decision = _decisions[key] = _decide(*key)
    return decision


@torch.compiler.assume_constant_result
def runs(op: str, device_type: str, implementation: str) -> bool:
    """True when `op` runs `implementation` on this device type (a constant for torch.compile)."""
    return choose(op, device_type)[0] == implementation


def describe(device: torch.device | str, family: str | None = None) -> list[dict]:
    """[{op, family, implementation, reason}] for every registered op (of `family`) on
    `device`. Import the op packages first (`draggan_fast.kernels`, `draggan_fast.stylegan.ops`)."""
    rows = []
    for op, entry in _ops.items():
        if family is None or entry.family == family:
            implementation, reason = choose(op, device)
            rows.append(
                {"op": op, "family": entry.family, "implementation": implementation,
                 "reason": reason}
            )  # fmt: skip
    return rows


def forget() -> None:
    """Forget every decision (after something they depend on changed, e.g. in tests)."""
    with _lock:
        _decisions.clear()
        _self_checks.clear()
