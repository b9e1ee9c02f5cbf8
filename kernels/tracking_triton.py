"""Point tracking in Triton (the CUDA path): all handles in one launch.

Program = one handle; it walks its (2r + 1)^2 window in row-major blocks, computes U at each
window pixel from four native taps, reduces the L2 (or L1) distance to the handle's reference
over channel blocks, and keeps the first minimum (lowest row-major index among equal distances),
as torch.min does on the official flattened patch.
"""

import torch
import triton
import triton.language as tl

from draggan_fast.kernels.stencil_triton import INTERPRETED, load_upsampled, upsample_taps

_BLOCK_C = 32 if not INTERPRETED else 64
_BLOCK_P = 128 if not INTERPRETED else 1024


@triton.jit
def _tracking_kernel(
    features_ptr, refs_ptr, centers_ptr, found_ptr,
    channels, native_height, native_width, image_height, image_width, scale_y, scale_x,
    radius, window_pixels,
    USE_L1: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    handle = tl.program_id(0)
    center_row = tl.load(centers_ptr + 2 * handle).to(tl.int32)
    center_col = tl.load(centers_ptr + 2 * handle + 1).to(tl.int32)
    side = 2 * radius + 1
    plane = native_height * native_width
    best = tl.zeros([], dtype=tl.float32) + float("inf")
    best_index = tl.zeros([], dtype=tl.int32) + window_pixels
    for start in range(0, window_pixels, BLOCK_P):
        position = start + tl.arange(0, BLOCK_P)  # row-major index in the full window
        row = center_row - radius + position // side
        col = center_col - radius + position % side
        valid = (position < window_pixels) & (row >= 0) & (row < image_height)
        valid = valid & (col >= 0) & (col < image_width)
        y0, y1, wy0, wy1 = upsample_taps(
            tl.minimum(tl.maximum(row, 0), image_height - 1), scale_y, native_height
        )
        x0, x1, wx0, wx1 = upsample_taps(
            tl.minimum(tl.maximum(col, 0), image_width - 1), scale_x, native_width
        )
        accumulated = tl.zeros([BLOCK_P], dtype=tl.float32)
        for channel_start in range(0, channels, BLOCK_C):
            channel = channel_start + tl.arange(0, BLOCK_C)
            channel_in = channel < channels
            lanes = channel_in[:, None] & valid[None, :]
            values = load_upsampled(
                features_ptr, channel[:, None] * plane, y0[None, :], y1[None, :],
                wy0[None, :], wy1[None, :], x0[None, :], x1[None, :], wx0[None, :],
                wx1[None, :], native_width, lanes,
            )  # fmt: skip
            reference = tl.load(refs_ptr + handle * channels + channel, mask=channel_in, other=0.0)
            difference = tl.where(lanes, values - reference[:, None], 0.0)
            if USE_L1:
                accumulated += tl.sum(tl.abs(difference), axis=0)
            else:
                accumulated += tl.sum(difference * difference, axis=0)
        distance = accumulated if USE_L1 else tl.sqrt_rn(accumulated)
        distance = tl.where(valid, distance, float("inf"))
        block_best = tl.min(distance, axis=0)
        block_index = tl.min(tl.where(distance == block_best, position, window_pixels), axis=0)
        take = block_best < best  # strict: an earlier block keeps ties
        best_index = tl.where(take, block_index, best_index)
        best = tl.where(take, block_best, best)
    best_index = tl.where(best_index < window_pixels, best_index, radius * side + radius)
    tl.store(found_ptr + 2 * handle, (center_row - radius + best_index // side).to(tl.float32))
    tl.store(found_ptr + 2 * handle + 1, (center_col - radius + best_index % side).to(tl.float32))


def track(features, feature_refs, centers, image_size, radius, metric):
    """New handles [K, 2] float32 (row, col): the window pixel nearest to each reference."""
    channels, native_height, native_width = features.shape[1:]
    num_handles = centers.shape[0]
    found = torch.empty(num_handles, 2, device=features.device, dtype=torch.float32)
    if num_handles == 0:
        return found
    side = 2 * radius + 1
    _tracking_kernel[(num_handles,)](
        features.contiguous(), feature_refs.to(torch.float32).contiguous(),
        centers.to(torch.int32).contiguous(), found,
        channels, native_height, native_width, image_size[0], image_size[1],
        native_height / image_size[0], native_width / image_size[1], radius, side * side,
        USE_L1=(metric == "l1"), BLOCK_C=_BLOCK_C, BLOCK_P=_BLOCK_P,
    )  # fmt: skip
    return found
