"""`filtered_lrelu`: StyleGAN3's alias-free nonlinearity (bias, FIR up-sampling, leaky ReLU,
clamp, FIR down-sampling), with the numerics of the official op's reference path
(NVlabs stylegan3 `torch_utils/ops/filtered_lrelu.py`, which is what runs on the CPU).

Implementations (draggan_fast/dispatch.py, op "filtered_lrelu", family "generator"):
  reference  `filtered_lrelu_reference`: `upfirdn2d` and `bias_act` in sequence; differentiable
             to any order by autograd, traced whole by torch.compile.
There is no compiled implementation: a fused kernel (as the official CUDA plugin) only pays where
it is measured faster than the reference on a GPU, which has not been done. Nor is there a
torch.library registration: the reference is a composition of ops that already have fake
kernels and autograd formulas, so a custom op would add a schema and nothing else.
"""

import math

from draggan_fast import dispatch
from draggan_fast.stylegan.ops.bias_act import bias_act
from draggan_fast.stylegan.ops.upfirdn2d import upfirdn2d

OP_NAME = "filtered_lrelu"
SQRT2 = math.sqrt(2)  # the default gain: keeps the magnitude of a leaky-ReLU signal


def _filter_size(f):
    """(width, height) of a filter: [taps] (separable), [height, width], or None (1 x 1)."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"filtered_lrelu: filters must be 1D or 2D, got shape {list(f.shape)}")
    return f.shape[-1], f.shape[0]


def _parse_padding(padding):
    """int, [x, y] or [x0, x1, y0, y1] -> (x0, x1, y0, y1) as ints."""
    if isinstance(padding, int):
        padding = [padding, padding]
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) != 4:
        raise ValueError(f"filtered_lrelu: padding must have 1, 2 or 4 items, got {padding}")
    return tuple(padding)


def output_size(in_size, fu, fd, up, down, padding):
    """(out_height, out_width) of `filtered_lrelu` for an input of (in_height, in_width)."""
    fu_w, fu_h = _filter_size(fu)
    fd_w, fd_h = _filter_size(fd)
    px0, px1, py0, py1 = _parse_padding(padding)
    in_h, in_w = in_size
    out_h = (in_h * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down
    out_w = (in_w * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    return out_h, out_w


def _check(x, fu, fd, b, up, down, gain, slope, clamp):
    _filter_size(fu), _filter_size(fd)  # raise on filters that are neither 1D nor 2D
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu: x must be [N, C, H, W], got {list(x.shape)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: b must be [{x.shape[1]}], got {list(b.shape)}")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"filtered_lrelu: up and down must be ints >= 1, got {up}, {down}")
    if not (gain > 0 and slope >= 0 and (clamp is None or clamp >= 0)):
        raise ValueError(
            f"filtered_lrelu: need gain > 0, slope >= 0, clamp None or >= 0; got {gain}, "
            f"{slope}, {clamp}"
        )


def filtered_lrelu_reference(
    x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=SQRT2, slope=0.2,
    clamp=None, flip_filter=False,
):  # fmt: skip
    """The definition of `filtered_lrelu` in plain PyTorch (arguments as there)."""
    _check(x, fu, fd, b, up, down, gain, slope, clamp)
    px0, px1, py0, py1 = _parse_padding(padding)
    x = bias_act(x, b)  # [N, C, H, W]
    x = upfirdn2d(
        x, fu, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter
    )  # [N, C, H * up + py0 + py1 - fu_h + 1, ...]
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter)  # [N, C, out_h, out_w]


_IMPLEMENTATIONS = {"reference": filtered_lrelu_reference}

dispatch.register(
    OP_NAME, "generator",
    [dispatch.Implementation("reference", "plain PyTorch (upfirdn2d, bias_act, upfirdn2d)")],
)  # fmt: skip


def filtered_lrelu(
    x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=SQRT2, slope=0.2,
    clamp=None, flip_filter=False,
):  # fmt: skip
    """Filtered leaky ReLU of a batch of images, per channel:

    1. add the bias `b`; 2. up-sample by `up` (zero insertion); 3. pad by `padding` (negative
    crops); 4. convolve with `fu`, keeping only outputs whose footprint lies inside; 5. multiply
    by `gain`; 6. leaky ReLU with `slope`; 7. clamp to [-clamp, clamp]; 8. convolve with `fd`
    (valid outputs only); 9. keep every `down`-th pixel.

    Args:
        x: [N, C, H, W] float tensor.
        fu: up-sampling FIR filter, [taps] (separable), [fh, fw], or None (identity).
        fd: down-sampling FIR filter, same forms as `fu`.
        b: [C] bias (same dtype as x), or None.
        up: integer up-sampling factor >= 1.
        down: integer down-sampling factor >= 1.
        padding: int, [px, py] or [px0, px1, py0, py1], on the up-sampled image.
        gain: scale applied before the activation (sqrt(2) keeps the signal's magnitude).
        slope: leaky ReLU slope for negative values (1 = linear).
        clamp: bound on the activation's output magnitude, or None.
        flip_filter: False = convolution, True = correlation.

    Returns:
        [N, C, out_h, out_w] in x's dtype; `output_size` gives (out_h, out_w).
    """
    device_type = x.device.type
    for name, implementation in _IMPLEMENTATIONS.items():
        if dispatch.runs(OP_NAME, device_type, name):
            return implementation(
                x, fu=fu, fd=fd, b=b, up=up, down=down, padding=padding, gain=gain,
                slope=slope, clamp=clamp, flip_filter=flip_filter,
            )  # fmt: skip
    raise RuntimeError(f"{OP_NAME}: dispatch chose an implementation this file lacks")
