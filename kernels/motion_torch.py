"""Motion supervision in vectorised PyTorch (runs on any device; the CPU path).

Reads the native map only at the stencil taps of each handle's disk pixels q and of the four
grid_sample corners of q + d_hat, in chunks of handles, so memory stays at disk size
[C, handles, disk candidates], never [C, H, W]. The backward scatters into the native gradient
with index_add_.
"""

import torch

from draggan_fast.kernels.stencil import gather_upsampled, scatter_upsampled, stencil

_CHUNK_ELEMENTS = 1 << 21  # float32 elements of one [C, handles, pixels] temporary


def _handle_chunks(num_handles, elements_per_handle):
    size = max(1, _CHUNK_ELEMENTS // max(elements_per_handle, 1))
    for start in range(0, num_handles, size):
        yield slice(start, min(start + size, num_handles))


def _sample_corners(sample_rows, sample_cols, image_size):
    """grid_sample's corners (zeros padding): [(rows, cols, weight)] with weight 0 outside."""
    height, width = image_size
    row0 = sample_rows.floor()
    col0 = sample_cols.floor()
    row_w1 = sample_rows - row0
    col_w1 = sample_cols - col0
    row_weights = (1.0 - row_w1, row_w1)
    col_weights = (1.0 - col_w1, col_w1)
    corners = []
    for row_step in (0, 1):
        rows = row0.to(torch.int64) + row_step
        for col_step in (0, 1):
            cols = col0.to(torch.int64) + col_step
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            weight = row_weights[row_step] * col_weights[col_step] * inside
            corners.append((rows.clamp(0, height - 1), cols.clamp(0, width - 1), weight))
    return corners  # order nw, ne, sw, se like grid_sample's sum


def _disk_values(flat, native_size, image_size, geometry, chunk):
    """U(q) [C, k, P], the corner stencils and weights, and S(q) = U(q + d_hat) [C, k, P]."""
    native_width = native_size[1]
    taps_q = stencil(geometry.rows[chunk], geometry.cols[chunk], native_size, image_size)
    values_q = gather_upsampled(flat, native_width, taps_q)
    corners = []
    shifted = None
    for rows, cols, weight in _sample_corners(
        geometry.sample_rows[chunk], geometry.sample_cols[chunk], image_size
    ):
        taps = stencil(rows, cols, native_size, image_size)
        term = weight * gather_upsampled(flat, native_width, taps)
        shifted = term if shifted is None else shifted + term
        corners.append((taps, weight))
    return values_q, corners, shifted


def motion_sums(features, geometry, image_size):
    """Per handle, sum over disk pixels and channels of |U(q) - S(q)|: [K] float32."""
    channels = features.shape[1]
    native_size = tuple(features.shape[2:])
    flat = features[0].to(torch.float32).reshape(channels, -1)  # [C, h * w]
    num_handles, num_pixels = geometry.rows.shape
    sums = []
    for chunk in _handle_chunks(num_handles, channels * num_pixels):
        values_q, _, shifted = _disk_values(flat, native_size, image_size, geometry, chunk)
        distance = (values_q - shifted).abs() * geometry.pixel_weight[chunk]  # [C, k, P]
        sums.append(distance.sum(dim=(0, 2)))
    return torch.cat(sums) if sums else flat.new_zeros(0)


def motion_grad(features, geometry, image_size, grad_sums):
    """d(sum_k grad_sums[k] * sums[k]) / d features, gradient through S only: [1, C, h, w]."""
    channels = features.shape[1]
    native_size = tuple(features.shape[2:])
    flat = features[0].to(torch.float32).reshape(channels, -1)
    grad_flat = torch.zeros_like(flat)  # [C, h * w]
    num_handles, num_pixels = geometry.rows.shape
    for chunk in _handle_chunks(num_handles, channels * num_pixels):
        values_q, corners, shifted = _disk_values(flat, native_size, image_size, geometry, chunk)
        scale = geometry.pixel_weight[chunk] * grad_sums[chunk].unsqueeze(1)  # [k, P]
        grad_shifted = -torch.sign(values_q - shifted) * scale  # d|a - S| / dS = -sign(a - S)
        for taps, weight in corners:
            scatter_upsampled(grad_flat, native_size[1], taps, grad_shifted * weight)
    return grad_flat.reshape(features.shape).to(features.dtype)
