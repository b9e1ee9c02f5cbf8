"""upsample2d and conv2d_resample: FIR up-sampling, and convolution with FIR up/down-sampling.

Both are compositions: their resampling runs through upfirdn2d's dispatch (upfirdn2d.py), the
convolution through torch. The references (`*_reference`) take the upfirdn2d to run as
`resample` (default: `upfirdn2d_reference`), so they are plain PyTorch end to end.
"""

import torch.nn.functional as F

from draggan_fast.stylegan.ops.upfirdn2d import (
    filter_size,
    pair,
    parse_padding,
    upfirdn2d,
    upfirdn2d_reference,
)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1):
    """2x (or `up`x) FIR up-sampling through upfirdn2d's dispatch.

    Args:
        x: [N, C, H, W].
        f: the FIR filter (`setup_filter`), [fh, fw] or [ft].
        up: int or (x, y) factor; padding: as upfirdn2d's, added to the filter's own.
        flip_filter, gain: as upfirdn2d's (the gain is multiplied by up_x * up_y).

    Returns [N, C, H * up, W * up] for padding 0; see `upsample2d_reference`.
    """
    return upsample2d_reference(x, f, up=up, padding=padding, flip_filter=flip_filter,
                                gain=gain, resample=upfirdn2d)  # fmt: skip


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True):
    """Convolution with FIR up/down-sampling through upfirdn2d's dispatch.

    Args:
        x: [N, C_in, H, W].
        w: [C_out, C_in // groups, kh, kw].
        f: FIR filter for up/down > 1 (`setup_filter`), or None.
        up, down: integer factors; padding: int, [x, y] or [x0, x1, y0, y1].
        groups: as conv2d's; flip_weight: False makes it a true convolution.

    See `conv2d_resample_reference`.
    """
    return conv2d_resample_reference(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                                     flip_weight=flip_weight, resample=upfirdn2d)  # fmt: skip


def upsample2d_reference(x, f, up=2, padding=0, flip_filter=False, gain=1, resample=None):
    """2x (or `up`x) upsampling with the FIR filter, output [N, C, H*up, W*up] for padding 0.

    `resample`: the upfirdn2d to run (default: `upfirdn2d_reference`).
    """
    resample = upfirdn2d_reference if resample is None else resample
    upx, upy = pair(up)
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [
        padx0 + (fw + upx - 1) // 2,
        padx1 + (fw - upx) // 2,
        pady0 + (fh + upy - 1) // 2,
        pady1 + (fh - upy) // 2,
    ]
    return resample(x, f, up=up, padding=pad, flip_filter=flip_filter, gain=gain * upx * upy)


def _conv2d(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    """conv2d computes a correlation; `flip_weight=False` makes it a true convolution."""
    if not flip_weight and (w.shape[-1] > 1 or w.shape[-2] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample_reference(
    x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, resample=None
):
    """2D convolution with optional FIR up/down-sampling, as the official `conv2d_resample`.

    x: [N, C_in, H, W]; w: [C_out, C_in // groups, kh, kw]; f: FIR filter (for up/down > 1).
    Up-sampling runs as a transposed strided convolution followed by the FIR filter.
    `resample`: the upfirdn2d to run (default: `upfirdn2d_reference`).
    """
    resample = upfirdn2d_reference if resample is None else resample
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = resample(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return resample(x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2)
    if down > 1 and up == 1:
        x = resample(x, f, padding=[px0, px1, py0, py1])
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        if groups == 1:
            w = w.transpose(0, 1)  # [C_in, C_out, kh, kw]
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d(
            x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True,
            flip_weight=not flip_weight,
        )  # fmt: skip
        x = resample(x, f, padding=[px0 + pxt, px1 - pxt, py0 + pyt, py1 - pyt], gain=up**2)
        if down > 1:
            x = resample(x, f, down=down)
        return x
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = resample(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up**2)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = resample(x, f, down=down)
    return x
