"""Reference generator ops in plain PyTorch: the definitions every kernel is tested against.

They reproduce the numerics of the official StyleGAN2 ops (NVlabs stylegan2-ada-pytorch
`torch_utils/ops`): `bias_act`, `upfirdn2d` (with `setup_filter` and `upsample2d`),
`conv2d_resample` and `modulated_conv2d`. No host syncs and no Python branching on tensor values,
so `torch.compile` captures them whole.
"""

import math

import torch
import torch.nn.functional as F

# name -> (function(x, alpha), default alpha, default gain)
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 0.0, 1.0),
    "relu": (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    "tanh": (lambda x, alpha: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, alpha: torch.sigmoid(x), 0.0, 1.0),
}


def activation_defaults(act: str) -> tuple[float, float]:
    """(default alpha, default gain) of an activation."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[act][1], ACTIVATIONS[act][2]


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """`act(x + b) * gain`, then clamped to [-clamp, clamp].

    x: [..., C, ...] with C at `dim`; b: [C] or None. `alpha`/`gain` None = the activation's default
    (lrelu: 0.2 and sqrt(2)); `clamp` None or negative = no clamping.
    """
    def_alpha, def_gain = activation_defaults(act)
    func = ACTIVATIONS[act][0]
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    if b is not None:
        x = x + b.reshape([-1 if i == dim % x.ndim else 1 for i in range(x.ndim)])
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


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


def _pair(value):
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

    x: [N, C, H, W]; f: [fh, fw] (or [ft] separable, or None = identity);
    output: [N, C, ceil(full_h / down), ceil(full_w / down)] with full_h = H*up + py0 + py1 - fh + 1
    and full_w = W*up + px0 + px1 - fw + 1 (decimation keeps samples 0, down, 2 * down, ...).
    The filter is convolved (flipped) unless `flip_filter`; it is scaled by gain ** (f.ndim / 2).
    """
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    upx, upy = _pair(up)
    downx, downy = _pair(down)
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


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, resample=None):
    """2x (or `up`x) upsampling with the FIR filter, output [N, C, H*up, W*up] for padding 0.

    `resample`: the upfirdn2d implementation to run (default: this module's reference).
    """
    resample = upfirdn2d if resample is None else resample
    upx, upy = _pair(up)
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


def conv2d_resample(
    x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, resample=None
):
    """2D convolution with optional FIR up/down-sampling, as the official `conv2d_resample`.

    x: [N, C_in, H, W]; w: [C_out, C_in // groups, kh, kw]; f: FIR filter (for up/down > 1).
    Up-sampling runs as a transposed strided convolution followed by the FIR filter.
    `resample`: the upfirdn2d implementation to run (default: this module's reference).
    """
    resample = upfirdn2d if resample is None else resample
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


def modulated_conv2d(
    x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
    demodulate=True, flip_weight=True, fused_modconv=True, resample=None,
):  # fmt: skip
    """StyleGAN2's modulated convolution.

    x: [N, C_in, H, W]; weight: [C_out, C_in, kh, kw]; styles: [N, C_in]; noise: broadcastable to
    the output [N, C_out, H', W'] or None. Demodulation divides each output channel by the norm of
    its modulated weights (+1e-8). `fused_modconv` runs one grouped convolution with per-sample
    weights; otherwise the activations are scaled before and after a shared convolution.
    float16 inputs get the official pre-normalisation against overflow.
    `resample`: the upfirdn2d implementation to run (default: this module's reference).
    """
    batch_size = x.shape[0]
    _, in_channels, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (
            1 / math.sqrt(in_channels * kh * kw)
            / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )  # fmt: skip
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(
            batch_size, 1, -1, 1, 1
        )  # [N, C_out, C_in, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, C_out]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(
            x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
            flip_weight=flip_weight, resample=resample,
        )  # fmt: skip
        if demodulate and noise is not None:
            return torch.addcmul(
                noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
            )
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])  # [1, N * C_in, H, W]
    w = w.reshape(-1, in_channels, kh, kw)  # [N * C_out, C_in, kh, kw]
    x = conv2d_resample(
        x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
        groups=batch_size, flip_weight=flip_weight, resample=resample,
    )  # fmt: skip
    x = x.reshape(batch_size, -1, *x.shape[2:])  # [N, C_out, H', W']
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x
