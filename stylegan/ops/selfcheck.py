"""The first-use self-check of a compiled op against its reference, on small inputs.

Each op file gives its cases (`cases(device, dtype, generator)` yielding `(run, inputs)`, with
`run(implementation, *inputs)` calling either the compiled or the reference function); `run`
compares the outputs and the input gradients per dtype. `dispatch` calls it through the op's
"compiled" implementation before the first use on CUDA and falls back to the reference, with one
warning, when it finds a problem.
"""

import torch

from draggan_fast.stylegan.ops.extension import KERNEL_DTYPES

# Tolerance (absolute, relative to the reference's largest magnitude) per compute dtype.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}


def random(shape, device, dtype, generator):
    """Standard normal values drawn on the CPU (the same on every device), moved to `device`."""
    return torch.randn(shape, generator=generator, device="cpu").to(device=device, dtype=dtype)


def _compare(name, ours, theirs, dtype):
    scale = max(theirs.detach().float().abs().max().item(), 1.0)
    error = (ours.detach().float() - theirs.detach().float()).abs().max().item() / scale
    if not error <= TOLERANCE[dtype]:  # also catches NaN
        return f"{name} differs by {error:.3g} (relative) in {dtype}"
    return None


def run(cases, dtypes, device: torch.device, compiled, reference) -> str | None:
    """None if `compiled` agrees with `reference` on every case of every dtype (among those the
    kernels of the device take), else the problem. compiled/reference: what a case's `run`
    receives as the implementation (e.g. the compiled and the reference function)."""
    dtypes = [dtype for dtype in dtypes if dtype in KERNEL_DTYPES.get(device.type, ())]
    generator = torch.Generator().manual_seed(0)
    # TF32 convolutions (cuDNN's default) differ from float32 by far more than the tolerance.
    # The first use may come under no_grad or inference_mode (a render, the mapping network):
    # the check compares gradients too, so it turns autograd back on for its own tensors.
    with (
        torch.backends.cudnn.flags(enabled=True, allow_tf32=False),
        torch.inference_mode(False),
        torch.enable_grad(),
    ):
        try:
            for dtype in dtypes:
                for case, inputs in cases(device, dtype, generator):
                    problem = _run_case(case, inputs, dtype, compiled, reference)
                    if problem:
                        return problem
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        except RuntimeError as exc:  # e.g. "no kernel image is available for execution"
            return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def _run_case(case, inputs, dtype, compiled, reference):
    mine = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
    theirs = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
    out_mine = case(compiled, *mine)
    out_ref = case(reference, *theirs)
    problem = _compare("output", out_mine, out_ref, dtype)
    if problem:
        return problem
    grad_out = torch.ones_like(out_ref)
    grads_mine = torch.autograd.grad(out_mine, mine, grad_out, allow_unused=True)
    grads_ref = torch.autograd.grad(out_ref, theirs, grad_out, allow_unused=True)
    for index, (gm, gr) in enumerate(zip(grads_mine, grads_ref)):
        if gr is not None:
            problem = _compare(f"gradient of input {index}", gm, gr, dtype)
            if problem:
                return problem
    return None
