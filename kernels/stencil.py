"""Values of the bilinearly upsampled feature map, computed from the native map, in PyTorch.

The official step builds U = F.interpolate(F, [H, W], mode="bilinear") (align_corners=False) and
reads it at a few pixels. Each U[c, y, x] is a fixed stencil of four native taps:

    src_y = max((y + 0.5) * h / H - 0.5, 0),  y0 = floor(src_y),  y1 = min(y0 + 1, h - 1)
    U[c, y, x] = wy0 * (wx0 * F[c, y0, x0] + wx1 * F[c, y0, x1])
               + wy1 * (wx0 * F[c, y1, x0] + wx1 * F[c, y1, x1]),   wy1 = src_y - y0, wy0 = 1 - wy1

`gather_upsampled` evaluates exactly that with the fused multiply-adds of PyTorch's CPU kernel
(values match F.interpolate bit for bit for power-of-two scales at images of 128 px and more,
within an ulp or so elsewhere) and `scatter_upsampled` is its
adjoint. Every function here takes index tensors of any shape, so callers never build [C, H, W].
Coordinates here are (row, col).
"""

from typing import NamedTuple

import torch


class Stencil(NamedTuple):
    """The four native taps of upsampled pixels (row, col): indices int64, weights float32."""

    y0: torch.Tensor
    y1: torch.Tensor
    x0: torch.Tensor
    x1: torch.Tensor
    wy0: torch.Tensor
    wy1: torch.Tensor
    wx0: torch.Tensor
    wx1: torch.Tensor


def upsample_taps(out_index, in_size, out_size):
    """Along one axis: output coordinates (int64) -> (i0, i1, w0, w1) of align_corners=False."""
    scale = in_size / out_size
    src = ((out_index.to(torch.float32) + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = src.to(torch.int64)  # floor: src >= 0
    w1 = src - i0.to(torch.float32)
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, 1.0 - w1, w1


def stencil(rows, cols, native_size, image_size):
    """Stencil of the upsampled pixels (rows, cols) (int64, inside the image, same shape)."""
    y0, y1, wy0, wy1 = upsample_taps(rows, native_size[0], image_size[0])
    x0, x1, wx0, wx1 = upsample_taps(cols, native_size[1], image_size[1])
    return Stencil(y0, y1, x0, x1, wy0, wy1, wx0, wx1)


def _tap(flat_features, native_width, y, x):  # [C, h * w] at (y, x) -> [C, *y.shape]
    index = (y * native_width + x).reshape(-1)
    return flat_features.index_select(1, index).reshape(flat_features.shape[0], *y.shape)


def gather_upsampled(flat_features, native_width, taps):
    """U at the stencil's pixels: flat_features [C, h * w] float32 -> [C, *taps.y0.shape]."""
    top = torch.addcmul(
        taps.wx1 * _tap(flat_features, native_width, taps.y0, taps.x1),
        taps.wx0,
        _tap(flat_features, native_width, taps.y0, taps.x0),
    )
    bottom = torch.addcmul(
        taps.wx1 * _tap(flat_features, native_width, taps.y1, taps.x1),
        taps.wx0,
        _tap(flat_features, native_width, taps.y1, taps.x0),
    )
    return torch.addcmul(taps.wy1 * bottom, taps.wy0, top)


def scatter_upsampled(flat_grad, native_width, taps, grad_values):
    """Adjoint of gather_upsampled: flat_grad [C, h * w] += d(sum U * grad_values) / dF."""
    channels = flat_grad.shape[0]
    pairs = (
        (taps.y0, taps.x0, taps.wy0 * taps.wx0),
        (taps.y0, taps.x1, taps.wy0 * taps.wx1),
        (taps.y1, taps.x0, taps.wy1 * taps.wx0),
        (taps.y1, taps.x1, taps.wy1 * taps.wx1),
    )
    for y, x, weight in pairs:
        index = (y * native_width + x).reshape(-1)
        flat_grad.index_add_(1, index, (grad_values * weight).reshape(channels, -1))
    return flat_grad


def sample_upsampled(features, pixels, image_size):
    """U at integer pixels: features [1, C, h, w], pixels [K, 2] (row, col) -> [K, C] float32.

    Pixels are rounded (half to even, like Python's round) and must lie inside the image; this
    gives the tracking references f_i = U0[:, round(row0), round(col0)].
    """
    if features.ndim != 4 or features.shape[0] != 1:
        raise ValueError(f"features must be [1, C, h, w], got {list(features.shape)}")
    rows = pixels[:, 0].round().to(torch.int64)
    cols = pixels[:, 1].round().to(torch.int64)
    native_size = tuple(features.shape[2:])
    flat = features[0].to(torch.float32).reshape(features.shape[1], -1)
    values = gather_upsampled(flat, native_size[1], stencil(rows, cols, native_size, image_size))
    return values.t().contiguous()  # [K, C]


class MotionGeometry(NamedTuple):
    """Where motion supervision reads, per handle k and candidate pixel p ([K, P] each).

    rows, cols: the integer disk candidates q (clamped into the image); sample_rows/cols: q + d_hat
    as grid_sample(align_corners=True) sees it; pixel_weight: 1 on disk pixels of handles farther
    than 1 px from their target, else 0; disk_scale [K]: 1 / (C * disk pixel count).
    """

    rows: torch.Tensor
    cols: torch.Tensor
    sample_rows: torch.Tensor
    sample_cols: torch.Tensor
    pixel_weight: torch.Tensor
    disk_scale: torch.Tensor


def motion_geometry(handles, targets, radius, image_size, channels):
    """Disk pixels and shifted sample positions of every handle, on the handles' device.

    handles, targets: [K, 2] float32 (row, col). The disk is the official one: pixels (i, j) with
    sqrt((X[i] - row)^2 + (Y[j] - col)^2) < radius for X = linspace(0, H, H), Y = linspace(0, W, W)
    (not integer coordinates), clipped to the image. No host synchronisation.
    """
    height, width = image_size
    device = handles.device
    delta = targets - handles  # [K, 2] (drow, dcol)
    length = torch.linalg.vector_norm(delta, dim=1)  # [K]
    direction = delta / (length + 1e-7).unsqueeze(1)  # [K, 2]
    # Pixel i sits at i * H / (H - 1), in [i, i + 1]: disk pixels lie in
    # (handle - radius - 1, handle + radius), within radius + 1 of floor(handle) on each axis.
    span = torch.arange(-radius - 1, radius + 2, device=device)
    base = handles.floor().to(torch.int64)
    side = span.numel()
    rows = (base[:, :1] + span).unsqueeze(2).expand(-1, side, side).reshape(-1, side * side)
    cols = (base[:, 1:] + span).unsqueeze(1).expand(-1, side, side).reshape(-1, side * side)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # [K, P]
    rows = rows.clamp(0, height - 1)
    cols = cols.clamp(0, width - 1)
    row_coords = torch.linspace(0, height, height, device=device)[rows]
    col_coords = torch.linspace(0, width, width, device=device)[cols]
    distance = (
        (row_coords - handles[:, :1]) ** 2 + (col_coords - handles[:, 1:]) ** 2
    ) ** 0.5  # [K, P]
    in_disk = inside & (distance < radius)
    active = (length > 1).unsqueeze(1)
    pixel_weight = (in_disk & active).to(torch.float32)
    disk_scale = 1.0 / (channels * in_disk.sum(dim=1).clamp_min(1).to(torch.float32))

    def grid_round_trip(coords, shift, size):  # as grid_sample(align_corners=True) sees q + d
        grid = (coords.to(torch.float32) + shift.unsqueeze(1)) / (size - 1) * 2 - 1
        return (grid + 1) / 2 * (size - 1)

    sample_rows = grid_round_trip(rows, direction[:, 0], height)
    sample_cols = grid_round_trip(cols, direction[:, 1], width)
    return MotionGeometry(rows, cols, sample_rows, sample_cols, pixel_weight, disk_scale)


def tracking_centers(handles):
    """Window centres of tracking: handles [K, 2] float (row, col) rounded -> int64 [K, 2]."""
    return handles.round().to(torch.int64)
