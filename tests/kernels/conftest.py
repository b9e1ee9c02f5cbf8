"""Fixtures of the drag-op tests."""

import functools

import pytest
import torch

from draggan_fast import dispatch


@functools.cache
def _interpreter_problem():
    """None if this Triton's CPU interpreter runs a loop with a runtime bound, as every drag
    kernel has, else the error. triton 3.6's interpreter fails there under numpy >= 2.4 (scalar
    arguments become 1-element arrays, which numpy no longer converts to int); 3.8's runs it.
    The CUDA path compiles the kernels and is not concerned."""
    import triton
    import triton.language as tl

    @triton.jit
    def count_blocks(out_ptr, n, BLOCK: tl.constexpr):
        total = tl.zeros([BLOCK], dtype=tl.float32)
        for _ in range(0, n, BLOCK):
            total += 1.0
        tl.store(out_ptr + tl.arange(0, BLOCK), total)

    out = torch.zeros(16)
    try:
        count_blocks[(1,)](out, 40, BLOCK=16)
    except Exception as exc:  # whatever the interpreter raises: report it as the skip reason
        return f"{type(exc).__name__}: {exc}"
    return None if float(out[0]) == 3.0 else f"a 3-block loop counted {float(out[0])}"


@pytest.fixture
def on_triton(monkeypatch):
    """The device on which the registered ops run their Triton kernels: CUDA where there is a
    GPU, else the CPU, where TRITON_INTERPRET=1 interprets them (skipped, with the reason, where
    the installed Triton's interpreter cannot run them)."""
    choose = dispatch.choose

    def triton_for_drag_ops(op, device):
        if dispatch.registered().get(op) == "drag":
            return "triton", "forced by the test"
        return choose(op, device)

    monkeypatch.setattr(dispatch, "choose", triton_for_drag_ops)
    if torch.cuda.is_available():
        return "cuda"
    problem = _interpreter_problem()
    if problem is not None:
        import triton

        pytest.skip(f"triton {triton.__version__}'s CPU interpreter cannot run them: {problem}")
    return "cpu"
