"""First-use self-check of a compiled CUDA op against its reference on small inputs.

Compiled CUDA code may never have met this GPU (arch, driver, toolkit): before an op is used
in a process, it runs a few small cases per dtype and must agree with the reference (values and
input gradients). `dispatch` falls back to the reference, with one warning, if it does not.
"""

import torch

from draggan_fast.stylegan.ops import compiled, reference
from draggan_fast.stylegan.ops.dispatch import KERNEL_DTYPES

# Tolerance (absolute, relative to the reference's largest magnitude) per compute dtype.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}


def _random(shape, device, dtype, generator):
    return torch.randn(shape, generator=generator, device="cpu").to(device=device, dtype=dtype)


def _bias_act_cases(device, dtype, generator):
    x = _random([2, 5, 7, 3], device, dtype, generator)
    b = _random([5], device, dtype, generator)
    for act, clamp in (("lrelu", 0.5), ("linear", None), ("tanh", None), ("sigmoid", 0.3)):
        yield (
            (lambda impl, x, b, act=act, clamp=clamp: impl.bias_act(x, b, act=act, clamp=clamp)),
            (x, b),
        )


def _upfirdn2d_cases(device, dtype, generator):
    x = _random([1, 3, 9, 7], device, dtype, generator)
    f = reference.setup_filter([1, 3, 3, 1]).to(device)
    for up, down, padding in ((2, 1, [2, 1, 2, 1]), (1, 2, [1, 1, 1, 1]), (1, 1, [-1, 2, 0, 1])):

        def run(impl, x, up=up, down=down, padding=padding):
            return impl.upfirdn2d(x, f, up=up, down=down, padding=padding)

        yield run, (x,)


def _modulated_conv2d_cases(device, dtype, generator):
    x = _random([2, 4, 6, 6], device, dtype, generator)
    styles = _random([2, 4], device, torch.float32, generator)
    f = reference.setup_filter([1, 3, 3, 1]).to(device)
    for up, kernel, demodulate in ((1, 3, True), (2, 3, True), (1, 1, False)):
        weight = _random([5, 4, kernel, kernel], device, torch.float32, generator)
        noise = _random([12 if up == 2 else 6] * 2, device, dtype, generator)

        def run(impl, x, weight, styles, up=up, demodulate=demodulate, noise=noise):
            return impl.modulated_conv2d(
                x, weight, styles, noise=noise, up=up, padding=weight.shape[-1] // 2,
                resample_filter=f, demodulate=demodulate, flip_weight=(up == 1),
            )  # fmt: skip

        yield run, (x, weight, styles)

    # The fused epilogue: bias, lrelu, gain and clamp.
    weight = _random([5, 4, 3, 3], device, torch.float32, generator)
    bias = _random([5], device, dtype, generator)

    def run_fused(impl, x, weight, styles, bias):
        epilogue = dict(act="lrelu", gain=1.5, clamp=0.8)
        if impl is compiled:
            return compiled.modulated_conv2d(x, weight, styles, padding=1, bias=bias, **epilogue)
        out = reference.modulated_conv2d(x, weight, styles, padding=1)
        return reference.bias_act(out, bias.to(out.dtype), **epilogue)

    yield run_fused, (x, weight, styles, bias)


# Every dtype the kernels take (dispatch.KERNEL_DTYPES) is checked before it is used.
CASES = {
    "bias_act": (_bias_act_cases, (torch.float32, torch.float16, torch.bfloat16, torch.float64)),
    "upfirdn2d": (_upfirdn2d_cases, (torch.float32, torch.float16, torch.bfloat16, torch.float64)),
    "modulated_conv2d": (_modulated_conv2d_cases, (torch.float32, torch.float16)),
}


def _compare(name, ours, theirs, dtype):
    scale = max(theirs.detach().float().abs().max().item(), 1.0)
    error = (ours.detach().float() - theirs.detach().float()).abs().max().item() / scale
    if not error <= TOLERANCE[dtype]:  # also catches NaN
        return f"{name} differs by {error:.3g} (relative) in {dtype}"
    return None


def self_check(op: str, device: torch.device) -> str | None:
    """None if `op`'s compiled kernel agrees with the reference on `device`, else the problem."""
    make_cases, dtypes = CASES[op]
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
        return _run_cases(make_cases, dtypes, device, generator)


def _run_cases(make_cases, dtypes, device, generator):
    try:
        for dtype in dtypes:
            for run, inputs in make_cases(device, dtype, generator):
                mine = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
                theirs = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
                out_mine = run(compiled, *mine)
                out_ref = run(reference, *theirs)
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
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    except RuntimeError as exc:  # e.g. "no kernel image is available for execution"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None
