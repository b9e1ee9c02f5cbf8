"""Point tracking in vectorised PyTorch (runs on any device; the CPU path).

Reads the native map only at the stencil taps of each handle's search window, in chunks of
handles ([C, handles, window] temporaries, never [C, H, W]), and picks the first minimum in
row-major order like torch.min on the official flattened patch.
"""

import torch

from draggan_fast.kernels.stencil import gather_upsampled, stencil

_CHUNK_ELEMENTS = 1 << 21  # float32 elements of one [C, handles, window] temporary


def track(features, feature_refs, centers, image_size, radius, metric):
    """New handles [K, 2] float32 (row, col): the window pixel nearest to each reference.

    features [1, C, h, w]; feature_refs [K, C]; centers [K, 2] int64 (row, col) window centres.
    """
    height, width = image_size
    channels = features.shape[1]
    native_size = tuple(features.shape[2:])
    flat = features[0].to(torch.float32).reshape(channels, -1)  # [C, h * w]
    refs = feature_refs.to(torch.float32)
    span = torch.arange(-radius, radius + 1, device=features.device)
    side = span.numel()
    rows = centers[:, :1] + span  # [K, side]
    cols = centers[:, 1:] + span
    inside = ((rows >= 0) & (rows < height)).unsqueeze(2) & (
        (cols >= 0) & (cols < width)
    ).unsqueeze(1)  # [K, side, side]
    rows = rows.clamp(0, height - 1).unsqueeze(2).expand(-1, side, side)
    cols = cols.clamp(0, width - 1).unsqueeze(1).expand(-1, side, side)
    order = 2 if metric == "l2" else 1
    num_handles = centers.shape[0]
    per_chunk = max(1, _CHUNK_ELEMENTS // (channels * side * side))
    found = []
    for start in range(0, num_handles, per_chunk):
        chunk = slice(start, min(start + per_chunk, num_handles))
        taps = stencil(rows[chunk], cols[chunk], native_size, image_size)
        values = gather_upsampled(flat, native_size[1], taps)  # [C, k, side, side]
        difference = values - refs[chunk].t()[:, :, None, None]
        distance = torch.linalg.vector_norm(difference, ord=order, dim=0)  # [k, side, side]
        distance = torch.where(inside[chunk], distance, float("inf")).flatten(1)
        index = distance.argmin(dim=1, keepdim=True)  # first minimum, row-major
        found.append(
            torch.cat(
                [rows[chunk].flatten(1).gather(1, index), cols[chunk].flatten(1).gather(1, index)],
                1,
            )
        )
    if not found:
        return centers.new_zeros((0, 2), dtype=torch.float32)
    return torch.cat(found).to(torch.float32)
