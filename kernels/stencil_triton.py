"""Triton device functions for the bilinear upsampling stencil (see kernels/stencil.py).

Pixel coordinates are (row, col) int32 blocks; channel offsets are [BLOCK_C, 1] blocks of
`channel * h * w`, pixel blocks are [1, BLOCK_P], so values come out [BLOCK_C, BLOCK_P].
"""

import os

import triton
import triton.language as tl

# Under TRITON_INTERPRET=1 (CI on the CPU) every program costs Python overhead, so the kernels
# launch fewer, larger programs there; on a GPU they use register-sized blocks.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def upsample_taps(out_index, scale, in_size):
    """One axis: int32 output coordinates -> (i0, i1, w0, w1) of align_corners=False."""
    src = tl.maximum((out_index.to(tl.float32) + 0.5) * scale - 0.5, 0.0)
    i0 = src.to(tl.int32)  # floor: src >= 0
    w1 = src - i0.to(tl.float32)
    i1 = tl.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, 1.0 - w1, w1


@triton.jit
def load_upsampled(
    features_ptr, channel_offset, y0, y1, wy0, wy1, x0, x1, wx0, wx1, native_width, mask
):
    """U at the stencil's pixels, float32 [BLOCK_C, BLOCK_P]; masked lanes read 0."""
    row0 = channel_offset + y0 * native_width
    row1 = channel_offset + y1 * native_width
    f00 = tl.load(features_ptr + row0 + x0, mask=mask, other=0.0).to(tl.float32)
    f01 = tl.load(features_ptr + row0 + x1, mask=mask, other=0.0).to(tl.float32)
    f10 = tl.load(features_ptr + row1 + x0, mask=mask, other=0.0).to(tl.float32)
    f11 = tl.load(features_ptr + row1 + x1, mask=mask, other=0.0).to(tl.float32)
    # The fused multiply-adds of PyTorch's bilinear kernel, so the values match F.interpolate
    # bit for bit on a GPU (the interpreter rounds fma twice, so it may differ by an ulp).
    top = tl.fma(wx0, f00, wx1 * f01)
    bottom = tl.fma(wx0, f10, wx1 * f11)
    return tl.fma(wy0, top, wy1 * bottom)


@triton.jit
def scatter_upsampled(
    grad_ptr, channel_offset, y0, y1, wy0, wy1, x0, x1, wx0, wx1, native_width, values, mask
):
    """Adjoint of load_upsampled: atomically adds the four taps' shares of `values`."""
    row0 = channel_offset + y0 * native_width
    row1 = channel_offset + y1 * native_width
    tl.atomic_add(grad_ptr + row0 + x0, values * (wy0 * wx0), mask=mask)
    tl.atomic_add(grad_ptr + row0 + x1, values * (wy0 * wx1), mask=mask)
    tl.atomic_add(grad_ptr + row1 + x0, values * (wy1 * wx0), mask=mask)
    tl.atomic_add(grad_ptr + row1 + x1, values * (wy1 * wx1), mask=mask)
