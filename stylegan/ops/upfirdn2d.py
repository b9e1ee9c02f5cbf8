"""upfirdn2d: up-sample by zero insertion, pad (or crop), FIR-filter, down-sample.

This file holds the whole op: the public function (dispatched), the plain-PyTorch reference
(`upfirdn2d_reference`, with `setup_filter` and the padding helpers), the call into the compiled
op (csrc/upfirdn2d.h, upfirdn2d_cpu.cpp, cuda/upfirdn2d.cu) with its fake kernel and autograd,
and the self-check of the compiled CUDA op. `upsample2d` and `conv2d_resample`
(conv2d_resample.py) run through this op's dispatch.
"""

import math

import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.stylegan.ops import extension, selfcheck


def setup_filter(f=(1, 3, 3, 1), normalize=True, flip_filter=False, gain=1, separable=None):
    """A 1D tap list -> the FIR filter tensor: 2D outer product (or 1D if separable), sum 1."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.outer(f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def pair(value):
    """int or (x, y) -> (x, y)."""
    return (value, value) if isinstance(value, int) else tuple(value)


def parse_padding(padding):
    """int, [x, y] or [x0, x1, y0, y1] -> (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    return tuple(padding)


def filter_size(f):
    """(width, height) of a filter tensor (None = 1x1)."""
    if f is None:
        return 1, 1
    return f.shape[-1], f.shape[0]


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Upsample by zero insertion, pad (or crop), FIR-filter, downsample by dropping pixels.

    Args:
        x: [N, C, H, W].
        f: [fh, fw], [ft] (separable) or None (identity).
        up, down: int or (x, y) factors; decimation keeps samples 0, down, 2 * down, ...
        padding: int, [x, y] or [x0, x1, y0, y1] (negative crops).
        flip_filter: correlate instead of convolving (the filter is flipped unless set).
        gain: the filter is scaled by gain ** (f.ndim / 2).

    Returns [N, C, ceil(full_h / down), ceil(full_w / down)] with
    full_h = H * up + py0 + py1 - fh + 1 and full_w = W * up + px0 + px1 - fw + 1. Runs the
    compiled op where `draggan_fast.dispatch` chose it for x's device and the kernel takes the
    inputs, else `upfirdn2d_reference`.
    """
    device_type = x.device.type
    if (
        dispatch.runs("upfirdn2d", device_type, "compiled")
        and extension.takes_dtype(device_type, x)
        and (f is None or (f.dtype == torch.float32 and f.ndim <= 2))
    ):
        return upfirdn2d_compiled(x, f, up=up, down=down, padding=padding,
                                  flip_filter=flip_filter, gain=gain)  # fmt: skip
    return upfirdn2d_reference(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter,
                               gain=gain)  # fmt: skip


def upfirdn2d_reference(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """The definition, in plain PyTorch (the official StyleGAN2 numerics); see `upfirdn2d`."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    upx, upy = pair(up)
    downx, downy = pair(down)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    batch_size, num_channels, in_height, in_width = x.shape

    x = x.reshape([batch_size, num_channels, in_height, 1, in_width, 1])  # [N, C, H, 1, W, 1]
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])  # [N, C, H, upy, W, upx]
    x = x.reshape([batch_size, num_channels, in_height * upy, in_width * upx])

    x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
    x = x[
        :,
        :,
        max(-pady0, 0) : x.shape[2] - max(-pady1, 0),
        max(-padx0, 0) : x.shape[3] - max(-padx1, 0),
    ]

    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([num_channels, 1] + [1] * f.ndim)  # [C, 1, fh, fw] or [C, 1, ft]
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=num_channels)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=num_channels)
        x = F.conv2d(x, f.unsqueeze(3), groups=num_channels)
    return x[:, :, ::downy, ::downx]


def upfirdn2d_compiled(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """`torch.ops.draggan_fast.upfirdn2d` with the reference's signature: a separable [ft]
    filter runs as a horizontal then a vertical pass (the caller checks that the op is compiled
    for the device)."""
    upx, upy = pair(up)
    downx, downy = pair(down)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    op = torch.ops.draggan_fast.upfirdn2d
    if f.ndim == 1:
        pass_gain = math.sqrt(gain)
        rows = op(x, f.unsqueeze(0), upx, 1, downx, 1, padx0, padx1, 0, 0, flip_filter, pass_gain)
        return op(
            rows, f.unsqueeze(1), 1, upy, 1, downy, 0, 0, pady0, pady1, flip_filter, pass_gain
        )
    return op(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, float(gain))


# --- shapes, fake kernel and autograd of the compiled op -------------------------------------


def upfirdn2d_output_size(size, up, down, pad0, pad1, taps):
    """Samples left after zero-insertion, padding, a `taps`-long filter and decimation (0 when
    the padding crops everything; `upfirdn2d_output_shape` rejects that)."""
    full = size * up + pad0 + pad1 - taps + 1
    return 0 if full <= 0 else (full + down - 1) // down


def upfirdn2d_output_shape(x_shape, f_shape, up, down, padding):
    """[N, C, H', W'] of upfirdn2d; up/down are (x, y), padding (x0, x1, y0, y1), f [fh, fw].

    Raises RuntimeError, as the compiled kernel's check (csrc/upfirdn2d.h) does, when the
    padding leaves no output row or column, so fake and real kernels fail alike.
    """
    batch_size, num_channels, in_h, in_w = x_shape
    filter_h, filter_w = f_shape
    upx, upy = up
    downx, downy = down
    padx0, padx1, pady0, pady1 = padding
    out_h = upfirdn2d_output_size(in_h, upy, downy, pady0, pady1, filter_h)
    out_w = upfirdn2d_output_size(in_w, upx, downx, padx0, padx1, filter_w)
    if out_h <= 0 or out_w <= 0:
        raise RuntimeError(
            f"upfirdn2d: the padding crops everything: output would be {out_h}x{out_w} "
            f"for input {in_h}x{in_w}"
        )
    return [batch_size, num_channels, out_h, out_w]


def upfirdn2d_backward_padding(in_size, out_size, f_shape, up, down, pad0):
    """(x0, x1, y0, y1) padding of the upfirdn2d that maps grad_y back onto x's grid: the
    gradient is upfirdn2d of grad_y with the filter flipped and up and down swapped.

    in_size/out_size are (H, W) of x and grad_y; pad0 the forward's leading (x0, y0) padding.
    """
    in_h, in_w = in_size
    out_h, out_w = out_size
    filter_h, filter_w = f_shape
    upx, upy = up
    downx, downy = down
    padx0, pady0 = pad0
    return (
        filter_w - padx0 - 1,
        in_w * upx - out_w * downx + padx0 - upx + 1,
        filter_h - pady0 - 1,
        in_h * upy - out_h * downy + pady0 - upy + 1,
    )


def _fake(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain):
    shape = upfirdn2d_output_shape(
        x.shape, f.shape, (upx, upy), (downx, downy), (padx0, padx1, pady0, pady1)
    )
    return torch.empty(shape, dtype=x.dtype, device=x.device)


def _setup(ctx, inputs, output):
    x, f, upx, upy, downx, downy, padx0, _padx1, pady0, _pady1, flip_filter, gain = inputs
    ctx.save_for_backward(f)
    ctx.params = (upx, upy, downx, downy, padx0, pady0, flip_filter, gain)
    ctx.in_size = (x.shape[2], x.shape[3])


def _backward(ctx, grad_y):
    (f,) = ctx.saved_tensors
    upx, upy, downx, downy, padx0, pady0, flip_filter, gain = ctx.params
    padding = upfirdn2d_backward_padding(
        ctx.in_size, grad_y.shape[2:], f.shape, (upx, upy), (downx, downy), (padx0, pady0)
    )
    grad_x = torch.ops.draggan_fast.upfirdn2d(
        grad_y.contiguous(), f, downx, downy, upx, upy, *padding, not flip_filter, gain
    )
    return grad_x, None, None, None, None, None, None, None, None, None, None, None


def _register_compiled():
    """Called once the extension has loaded; from this file, the module csrc/ext.cpp names."""
    torch.library.register_fake("draggan_fast::upfirdn2d")(_fake)
    torch.library.register_autograd("draggan_fast::upfirdn2d", _backward, setup_context=_setup)


extension.on_load(_register_compiled)


# --- self-check of the compiled op and dispatch ----------------------------------------------


def _self_check_cases(device, dtype, generator):
    x = selfcheck.random([1, 3, 9, 7], device, dtype, generator)
    f = setup_filter([1, 3, 3, 1]).to(device)
    for up, down, padding in ((2, 1, [2, 1, 2, 1]), (1, 2, [1, 1, 1, 1]), (1, 1, [-1, 2, 0, 1])):

        def run(impl, x, up=up, down=down, padding=padding):
            return impl(x, f, up=up, down=down, padding=padding)

        yield run, (x,)


def self_check(device: torch.device) -> str | None:
    """None if the compiled op agrees with the reference on `device` (values and gradients,
    every dtype the kernels take), else the problem."""
    dtypes = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    return selfcheck.run(_self_check_cases, dtypes, device, upfirdn2d_compiled, upfirdn2d_reference)


dispatch.register(
    "upfirdn2d",
    "generator",
    [
        extension.compiled_implementation(
            "upfirdn2d", None, {"cuda": extension.H200_GENERATOR}, lambda d: self_check(d)
        ),
        dispatch.Implementation("reference", "plain PyTorch (upfirdn2d_reference)"),
    ],
)
