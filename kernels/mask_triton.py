"""Mask term in Triton (the CUDA path).

Program = a block of image pixels; for each channel block it computes U and U0 from their native
taps, weights them by (1 - M) and reduces |U (1 - M) - U0 (1 - M)|, skipping pixels the mask
leaves free. The forward writes one partial sum per program (summed afterwards, deterministic);
the backward scatters sign(...) (1 - M) into the native gradient's four taps with atomics.
"""

import torch
import triton
import triton.language as tl

from draggan_fast.kernels.stencil_triton import (
    INTERPRETED,
    load_upsampled,
    scatter_upsampled,
    upsample_taps,
)

_BLOCK_C = 16 if not INTERPRETED else 64
_BLOCK_P = 128 if not INTERPRETED else 4096


@triton.jit
def _mask_kernel(
    features_ptr, reference_ptr, movable_ptr, partial_ptr, grad_ptr, grad_sum_ptr,
    channels, native_height, native_width, image_height, image_width, scale_y, scale_x,
    BACKWARD: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    block = tl.program_id(0)
    pixel = block * BLOCK_P + tl.arange(0, BLOCK_P)
    in_image = pixel < image_height * image_width
    movable = tl.load(movable_ptr + pixel, mask=in_image, other=1.0).to(tl.float32)
    fixed = 1.0 - movable
    live = in_image & (fixed != 0.0)
    row = pixel // image_width
    col = pixel % image_width
    y0, y1, wy0, wy1 = upsample_taps(row, scale_y, native_height)
    x0, x1, wx0, wx1 = upsample_taps(col, scale_x, native_width)
    total = tl.zeros([BLOCK_P], dtype=tl.float32)
    plane = native_height * native_width
    for channel_start in range(0, channels, BLOCK_C):
        channel = channel_start + tl.arange(0, BLOCK_C)
        channel_offset = channel[:, None] * plane  # [BLOCK_C, 1]
        lanes = (channel < channels)[:, None] & live[None, :]
        values = load_upsampled(
            features_ptr, channel_offset, y0[None, :], y1[None, :], wy0[None, :], wy1[None, :],
            x0[None, :], x1[None, :], wx0[None, :], wx1[None, :], native_width, lanes,
        )  # fmt: skip
        reference = load_upsampled(
            reference_ptr, channel_offset, y0[None, :], y1[None, :], wy0[None, :],
            wy1[None, :], x0[None, :], x1[None, :], wx0[None, :], wx1[None, :], native_width,
            lanes,
        )  # fmt: skip
        difference = values * fixed[None, :] - reference * fixed[None, :]
        if BACKWARD:
            grad_sum = tl.load(grad_sum_ptr)
            sign = tl.where(difference > 0, 1.0, 0.0) - tl.where(difference < 0, 1.0, 0.0)
            scatter_upsampled(
                grad_ptr, channel_offset, y0[None, :], y1[None, :], wy0[None, :], wy1[None, :],
                x0[None, :], x1[None, :], wx0[None, :], wx1[None, :], native_width,
                sign * (fixed * grad_sum)[None, :], lanes,
            )  # fmt: skip
        else:
            total += tl.sum(tl.abs(difference), axis=0)
    if not BACKWARD:
        tl.store(partial_ptr + block, tl.sum(total, axis=0))


def _launch(features, reference_features, movable_mask, grad_sum, backward):
    """Forward: partial sums [blocks]; backward: the float32 gradient [1, C, h, w]."""
    channels, native_height, native_width = features.shape[1:]
    image_height, image_width = movable_mask.shape
    num_blocks = triton.cdiv(image_height * image_width, _BLOCK_P)
    device = features.device
    if backward:
        result = torch.zeros(features.shape, device=device, dtype=torch.float32)
    else:
        result = torch.zeros(num_blocks, device=device, dtype=torch.float32)
    grad_sum = result if grad_sum is None else grad_sum  # read by the backward variant only
    _mask_kernel[(num_blocks,)](
        features.contiguous(), reference_features.contiguous(),
        movable_mask.to(torch.float32).contiguous(), result, result, grad_sum,
        channels, native_height, native_width, image_height, image_width,
        native_height / image_height, native_width / image_width,
        BACKWARD=backward, BLOCK_C=_BLOCK_C, BLOCK_P=_BLOCK_P,
    )  # fmt: skip
    return result


def mask_sum(features, reference_features, movable_mask):
    """Sum over [C, H, W] of |U * (1 - M) - U0 * (1 - M)|: a float32 scalar."""
    return _launch(features, reference_features, movable_mask, None, backward=False).sum()


def mask_grad(features, reference_features, movable_mask, grad_sum):
    """d(grad_sum * mask_sum) / d features: [1, C, h, w] in the features' dtype."""
    grad_sum = grad_sum.to(torch.float32).reshape(1)
    grad = _launch(features, reference_features, movable_mask, grad_sum, backward=True)
    return grad.to(features.dtype)
