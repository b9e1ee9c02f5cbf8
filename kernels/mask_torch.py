"""Mask term in vectorised PyTorch (runs on any device; the CPU path).

Walks the image in bands of rows, so memory stays at one band [C, rows, W], never [C, H, W].
When the image is a whole multiple of the native map (always, for StyleGAN), a band is
F.interpolate of the native rows under it plus one row of margin each side: the same stencils,
exactly (the margin keeps the crop's edge clamping away from the band), computed by PyTorch's
fused kernel, and its backward by the matching aten kernel; by linearity U - U0 is upsampled
F - F0, one upsampling instead of two. Other ratios gather the stencil taps of each band (slower,
same values up to rounding).
"""

import torch

from draggan_fast.kernels.stencil import upsample_taps

_BAND_ELEMENTS = 1 << 21  # float32 elements of one [C, rows, W] band


def _tap_bands(native, image_size):
    """Bands of image rows: (start, stop, row taps [rows], column taps [W]) of each."""
    channels, native_height, native_width = native.shape
    height, width = image_size
    col_taps = upsample_taps(torch.arange(width, device=native.device), native_width, width)
    rows_per_band = max(1, _BAND_ELEMENTS // (channels * width))
    for start in range(0, height, rows_per_band):
        stop = min(start + rows_per_band, height)
        rows = torch.arange(start, stop, device=native.device)
        yield start, stop, upsample_taps(rows, native_height, height), col_taps


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


def _float32_inputs(features, reference_features, movable_mask):
    """F and F0 as float32 [C, h, w], and fixed = 1 - M float32 [H, W] (1 where it must stay)."""
    native = features[0].to(torch.float32)
    native_reference = reference_features[0].to(torch.float32)
    return native, native_reference, 1.0 - movable_mask.to(torch.float32)


def _integer_scale(native_size, image_size):
    """The upsampling factor when the image is a whole multiple of the map on both axes."""
    (native_height, native_width), (height, width) = native_size, image_size
    scale = height // native_height
    if scale * native_height == height and scale * native_width == width:
        return scale
    return None


def _crop_bands(native, scale, image_size):
    """Bands of whole native rows: (native rows [first, last), kept crop output rows
    [top, bottom), image rows [start, stop))."""
    channels, native_height, _ = native.shape
    height, width = image_size
    rows_per_band = max(1, _BAND_ELEMENTS // (channels * width * scale)) * scale
    for start in range(0, height, rows_per_band):
        stop = min(start + rows_per_band, height)
        first = max(start // scale - 1, 0)
        last = min(stop // scale + 1, native_height)
        yield first, last, start - first * scale, stop - first * scale, start, stop


def _upsample_crop(native, first, last, scale, width):  # [C, h, w] rows -> [1, C, rows * s, W]
    crop = native[None, :, first:last]
    return torch.nn.functional.interpolate(crop, [(last - first) * scale, width], mode="bilinear")


def mask_sum(features, reference_features, movable_mask):
    """Sum over [C, H, W] of |U * (1 - M) - U0 * (1 - M)|: a float32 scalar."""
    native, native_reference, fixed = _float32_inputs(features, reference_features, movable_mask)
    image_size = tuple(fixed.shape)
    total = native.new_zeros(())
    scale = _integer_scale(native.shape[1:], image_size)
    if scale is not None:
        difference = native - native_reference  # U - U0 is the upsampled F - F0
        for first, last, top, bottom, start, stop in _crop_bands(native, scale, image_size):
            crop = _upsample_crop(difference, first, last, scale, image_size[1])
            total = total + crop[0, :, top:bottom].mul_(fixed[start:stop]).abs_().sum()
        return total
    for start, stop, row_taps, col_taps in _tap_bands(native, image_size):
        band = _band_difference(native, native_reference, fixed[start:stop], row_taps, col_taps)
        total = total + band.abs().sum()
    return total


def mask_grad(features, reference_features, movable_mask, grad_sum):
    """d(grad_sum * mask_sum) / d features: [1, C, h, w] in the features' dtype."""
    native, native_reference, fixed = _float32_inputs(features, reference_features, movable_mask)
    channels, _, native_width = native.shape
    image_size = tuple(fixed.shape)
    grad_native = torch.zeros_like(native)  # [C, h, w]
    scale = _integer_scale(native.shape[1:], image_size)
    if scale is not None:
        difference = native - native_reference
        for first, last, top, bottom, start, stop in _crop_bands(native, scale, image_size):
            crop = _upsample_crop(difference, first, last, scale, image_size[1])
            band_fixed = fixed[start:stop]
            grad_crop = torch.zeros_like(crop)  # [1, C, rows * s, W]
            band_sign = crop[0, :, top:bottom].mul_(band_fixed).sign_()
            grad_crop[0, :, top:bottom] = band_sign.mul_(band_fixed * grad_sum)
            grad_native[:, first:last] += torch.ops.aten.upsample_bilinear2d_backward(
                grad_crop, list(crop.shape[2:]), [1, channels, last - first, native_width], False
            )[0]
        return grad_native.unsqueeze(0).to(features.dtype)
    for start, stop, row_taps, col_taps in _tap_bands(native, image_size):
        x0, x1, wx0, wx1 = col_taps
        band_fixed = fixed[start:stop]
        band = _band_difference(native, native_reference, band_fixed, row_taps, col_taps)
        grad_band = torch.sign(band) * band_fixed * grad_sum  # d/dU of the band, [C, rows, W]
        y0, y1, wy0, wy1 = row_taps
        for native_rows, row_weight in ((y0, wy0), (y1, wy1)):
            grad_rows = grad_band * row_weight[:, None]
            grad_cols = torch.zeros(
                channels, stop - start, native_width, device=native.device
            )  # [C, rows, w]
            grad_cols.index_add_(2, x0, grad_rows * wx0)
            grad_cols.index_add_(2, x1, grad_rows * wx1)
            grad_native.index_add_(1, native_rows, grad_cols)
    return grad_native.unsqueeze(0).to(features.dtype)
