"""Mask term in vectorised PyTorch (the CPU path; runs on any device).

Walks the image in bands of rows: a band of U and U0 ([C, rows, W]) is built from the two native
rows and columns of its stencil, so memory stays at one band, never [C, H, W]. The backward turns
a band's gradient back into native taps with index_add_.
"""

import torch

from draggan_fast.kernels.stencil import upsample_taps

_BAND_ELEMENTS = 1 << 21  # float32 elements of one [C, rows, W] band


def _bands(channels, image_size):
    height, width = image_size
    rows_per_band = max(1, _BAND_ELEMENTS // (channels * width))
    for start in range(0, height, rows_per_band):
        yield start, min(start + rows_per_band, height)


def _upsample_band(native, row_taps, col_taps):
    """Band of U from native [C, h, w]: [C, rows, W], in F.interpolate's operation order."""
    y0, y1, wy0, wy1 = row_taps  # [rows]
    x0, x1, wx0, wx1 = col_taps  # [W]
    upper = native.index_select(1, y0)  # [C, rows, w]
    lower = native.index_select(1, y1)
    top = torch.addcmul(wx1 * upper.index_select(2, x1), wx0, upper.index_select(2, x0))
    bottom = torch.addcmul(wx1 * lower.index_select(2, x1), wx0, lower.index_select(2, x0))
    return torch.addcmul(wy1[:, None] * bottom, wy0[:, None], top)  # [C, rows, W]


def _band_difference(native, native_reference, fixed, row_taps, col_taps):
    """U * (1 - M) - U0 * (1 - M) on one band: [C, rows, W]."""
    values = _upsample_band(native, row_taps, col_taps)
    reference = _upsample_band(native_reference, row_taps, col_taps)
    return values * fixed - reference * fixed


def _prepare(features, reference_features, movable_mask):
    channels, native_height, native_width = features.shape[1:]
    image_size = tuple(movable_mask.shape)
    native = features[0].to(torch.float32)  # [C, h, w]
    native_reference = reference_features[0].to(torch.float32)
    fixed = 1.0 - movable_mask.to(torch.float32)  # [H, W]: 1 where the image must stay
    cols = torch.arange(image_size[1], device=features.device)
    col_taps = upsample_taps(cols, native_width, image_size[1])
    return channels, native_height, image_size, native, native_reference, fixed, col_taps


def mask_sum(features, reference_features, movable_mask):
    """Sum over [C, H, W] of |U * (1 - M) - U0 * (1 - M)|: a float32 scalar."""
    channels, native_height, image_size, native, native_reference, fixed, col_taps = _prepare(
        features, reference_features, movable_mask
    )
    total = native.new_zeros(())
    for start, stop in _bands(channels, image_size):
        rows = torch.arange(start, stop, device=features.device)
        row_taps = upsample_taps(rows, native_height, image_size[0])
        band = _band_difference(native, native_reference, fixed[start:stop], row_taps, col_taps)
        total = total + band.abs().sum()
    return total


def mask_grad(features, reference_features, movable_mask, grad_sum):
    """d(grad_sum * mask_sum) / d features: [1, C, h, w] in the features' dtype."""
    channels, native_height, image_size, native, native_reference, fixed, col_taps = _prepare(
        features, reference_features, movable_mask
    )
    x0, x1, wx0, wx1 = col_taps
    grad_native = torch.zeros_like(native)  # [C, h, w]
    for start, stop in _bands(channels, image_size):
        rows = torch.arange(start, stop, device=features.device)
        row_taps = upsample_taps(rows, native_height, image_size[0])
        band_fixed = fixed[start:stop]
        band = _band_difference(native, native_reference, band_fixed, row_taps, col_taps)
        grad_band = torch.sign(band) * band_fixed * grad_sum  # d/dU of the band, [C, rows, W]
        y0, y1, wy0, wy1 = row_taps
        for native_rows, row_weight in ((y0, wy0), (y1, wy1)):
            grad_rows = grad_band * row_weight[:, None]
            grad_cols = torch.zeros(
                channels, stop - start, native.shape[2], device=native.device
            )  # [C, rows, w]
            grad_cols.index_add_(2, x0, grad_rows * wx0)
            grad_cols.index_add_(2, x1, grad_rows * wx1)
            grad_native.index_add_(1, native_rows, grad_cols)
    return grad_native.unsqueeze(0).to(features.dtype)
