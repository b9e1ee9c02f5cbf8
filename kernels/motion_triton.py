"""Motion supervision in Triton (the CUDA path): all handles in one launch.

Program (handle k, block of disk candidates): for each channel block it computes U(q) from four
native taps and S(q) = bilinear of U at q + d_hat (four corners, zeros outside the image, each
corner four taps), and reduces |U(q) - S(q)|. The forward writes one partial sum per program
(summed afterwards, deterministic); the backward recomputes the same values and scatters
-sign(U(q) - S(q)) through the sixteen taps of S into the native gradient with atomics.
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

_BLOCK_C = 32 if not INTERPRETED else 64
_BLOCK_P = 64 if not INTERPRETED else 256


@triton.jit
def _motion_kernel(
    features_ptr, rows_ptr, cols_ptr, sample_rows_ptr, sample_cols_ptr, pixel_weight_ptr,
    grad_sums_ptr, partial_ptr, grad_ptr,
    channels, native_height, native_width, image_height, image_width, scale_y, scale_x,
    num_pixels, num_blocks,
    BACKWARD: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):  # fmt: skip
    handle = tl.program_id(0)
    block = tl.program_id(1)
    pixel = block * BLOCK_P + tl.arange(0, BLOCK_P)
    offset = handle * num_pixels + pixel
    weight = tl.load(pixel_weight_ptr + offset, mask=pixel < num_pixels, other=0.0)
    live = weight != 0.0  # disk pixels of active handles only
    row = tl.load(rows_ptr + offset, mask=live, other=0)
    col = tl.load(cols_ptr + offset, mask=live, other=0)
    qy0, qy1, qwy0, qwy1 = upsample_taps(row, scale_y, native_height)
    qx0, qx1, qwx0, qwx1 = upsample_taps(col, scale_x, native_width)

    # grid_sample(align_corners=True, padding_mode="zeros") corners of q + d_hat.
    sample_row = tl.load(sample_rows_ptr + offset, mask=live, other=0.0)
    sample_col = tl.load(sample_cols_ptr + offset, mask=live, other=0.0)
    top = tl.floor(sample_row)
    left = tl.floor(sample_col)
    row_w1 = sample_row - top
    col_w1 = sample_col - left
    row_a = top.to(tl.int32)
    col_a = left.to(tl.int32)
    row_b = row_a + 1
    col_b = col_a + 1
    row_a_in = (row_a >= 0) & (row_a < image_height)
    row_b_in = (row_b >= 0) & (row_b < image_height)
    col_a_in = (col_a >= 0) & (col_a < image_width)
    col_b_in = (col_b >= 0) & (col_b < image_width)
    ay0, ay1, awy0, awy1 = upsample_taps(
        tl.minimum(tl.maximum(row_a, 0), image_height - 1), scale_y, native_height
    )
    by0, by1, bwy0, bwy1 = upsample_taps(
        tl.minimum(tl.maximum(row_b, 0), image_height - 1), scale_y, native_height
    )
    ax0, ax1, awx0, awx1 = upsample_taps(
        tl.minimum(tl.maximum(col_a, 0), image_width - 1), scale_x, native_width
    )
    bx0, bx1, bwx0, bwx1 = upsample_taps(
        tl.minimum(tl.maximum(col_b, 0), image_width - 1), scale_x, native_width
    )
    w_nw = ((1.0 - row_w1) * (1.0 - col_w1))[None, :]
    w_ne = ((1.0 - row_w1) * col_w1)[None, :]
    w_sw = (row_w1 * (1.0 - col_w1))[None, :]
    w_se = (row_w1 * col_w1)[None, :]
    in_nw = (live & row_a_in & col_a_in)[None, :]
    in_ne = (live & row_a_in & col_b_in)[None, :]
    in_sw = (live & row_b_in & col_a_in)[None, :]
    in_se = (live & row_b_in & col_b_in)[None, :]
    if BACKWARD:
        grad_scale = (weight * tl.load(grad_sums_ptr + handle))[None, :]

    total = tl.zeros([BLOCK_P], dtype=tl.float32)
    plane = native_height * native_width
    for channel_start in range(0, channels, BLOCK_C):
        channel = channel_start + tl.arange(0, BLOCK_C)
        channel_in = (channel < channels)[:, None]
        channel_offset = channel[:, None] * plane  # [BLOCK_C, 1]
        lanes = channel_in & live[None, :]
        value_q = load_upsampled(
            features_ptr, channel_offset, qy0[None, :], qy1[None, :], qwy0[None, :],
            qwy1[None, :], qx0[None, :], qx1[None, :], qwx0[None, :], qwx1[None, :],
            native_width, lanes,
        )  # fmt: skip
        nw = load_upsampled(
            features_ptr, channel_offset, ay0[None, :], ay1[None, :], awy0[None, :],
            awy1[None, :], ax0[None, :], ax1[None, :], awx0[None, :], awx1[None, :],
            native_width, channel_in & in_nw,
        )  # fmt: skip
        ne = load_upsampled(
            features_ptr, channel_offset, ay0[None, :], ay1[None, :], awy0[None, :],
            awy1[None, :], bx0[None, :], bx1[None, :], bwx0[None, :], bwx1[None, :],
            native_width, channel_in & in_ne,
        )  # fmt: skip
        sw = load_upsampled(
            features_ptr, channel_offset, by0[None, :], by1[None, :], bwy0[None, :],
            bwy1[None, :], ax0[None, :], ax1[None, :], awx0[None, :], awx1[None, :],
            native_width, channel_in & in_sw,
        )  # fmt: skip
        se = load_upsampled(
            features_ptr, channel_offset, by0[None, :], by1[None, :], bwy0[None, :],
            bwy1[None, :], bx0[None, :], bx1[None, :], bwx0[None, :], bwx1[None, :],
            native_width, channel_in & in_se,
        )  # fmt: skip
        shifted = nw * w_nw + ne * w_ne + sw * w_sw + se * w_se
        difference = value_q - shifted
        if BACKWARD:
            sign = tl.where(difference > 0, 1.0, 0.0) - tl.where(difference < 0, 1.0, 0.0)
            grad_shifted = -sign * grad_scale  # [BLOCK_C, BLOCK_P]
            scatter_upsampled(
                grad_ptr, channel_offset, ay0[None, :], ay1[None, :], awy0[None, :],
                awy1[None, :], ax0[None, :], ax1[None, :], awx0[None, :], awx1[None, :],
                native_width, grad_shifted * w_nw, channel_in & in_nw,
            )  # fmt: skip
            scatter_upsampled(
                grad_ptr, channel_offset, ay0[None, :], ay1[None, :], awy0[None, :],
                awy1[None, :], bx0[None, :], bx1[None, :], bwx0[None, :], bwx1[None, :],
                native_width, grad_shifted * w_ne, channel_in & in_ne,
            )  # fmt: skip
            scatter_upsampled(
                grad_ptr, channel_offset, by0[None, :], by1[None, :], bwy0[None, :],
                bwy1[None, :], ax0[None, :], ax1[None, :], awx0[None, :], awx1[None, :],
                native_width, grad_shifted * w_sw, channel_in & in_sw,
            )  # fmt: skip
            scatter_upsampled(
                grad_ptr, channel_offset, by0[None, :], by1[None, :], bwy0[None, :],
                bwy1[None, :], bx0[None, :], bx1[None, :], bwx0[None, :], bwx1[None, :],
                native_width, grad_shifted * w_se, channel_in & in_se,
            )  # fmt: skip
        else:
            total += tl.sum(tl.abs(difference), axis=0)
    if not BACKWARD:
        tl.store(partial_ptr + handle * num_blocks + block, tl.sum(total * weight, axis=0))


def _launch(features, geometry, image_size, grad_sums, backward):
    """Forward: partial sums [K, blocks]; backward: the float32 gradient [1, C, h, w]."""
    channels, native_height, native_width = features.shape[1:]
    num_handles, num_pixels = geometry.rows.shape
    num_blocks = triton.cdiv(num_pixels, _BLOCK_P)
    device = features.device
    if backward:
        result = torch.zeros(features.shape, device=device, dtype=torch.float32)
    else:
        result = torch.zeros(num_handles, num_blocks, device=device, dtype=torch.float32)
    if num_handles == 0:
        return result
    grad_sums = result if grad_sums is None else grad_sums  # read by the backward variant only
    _motion_kernel[(num_handles, num_blocks)](
        features.contiguous(), geometry.rows.to(torch.int32).contiguous(),
        geometry.cols.to(torch.int32).contiguous(), geometry.sample_rows.contiguous(),
        geometry.sample_cols.contiguous(), geometry.pixel_weight.contiguous(),
        grad_sums.contiguous(), result, result,
        channels, native_height, native_width, image_size[0], image_size[1],
        native_height / image_size[0], native_width / image_size[1], num_pixels, num_blocks,
        BACKWARD=backward, BLOCK_C=_BLOCK_C, BLOCK_P=_BLOCK_P,
    )  # fmt: skip
    return result


def motion_sums(features, geometry, image_size):
    """Per handle, sum over disk pixels and channels of |U(q) - S(q)|: [K] float32."""
    return _launch(features, geometry, image_size, None, backward=False).sum(dim=1)


def motion_grad(features, geometry, image_size, grad_sums):
    """d(sum_k grad_sums[k] * sums[k]) / d features, gradient through S only: [1, C, h, w]."""
    grad = _launch(features, geometry, image_size, grad_sums.to(torch.float32), backward=True)
    return grad.to(features.dtype)
