"""Inputs for the drag-op tests: random native maps, handles on borders and corners, fractional
targets."""

import torch

# (channels, native size, image size, handles): scales 1, 2, 4, 8, native maps 16..256.
CPU_SHAPES = [
    (8, 16, 64, 5),  # scale 4, borders and corners
    (4, 16, 128, 68),  # scale 8, 68 handles
    (6, 32, 128, 1),  # scale 4, one handle
    (5, 64, 128, 5),  # scale 2
    (3, 256, 256, 5),  # scale 1, native 256
    (2, 128, 1024, 5),  # scale 8, image 1024
]
# The interpreter is slow: few channels and small images, still every scale and 1/5/68 handles.
TRITON_SHAPES = [
    (5, 16, 64, 5),  # scale 4
    (3, 16, 128, 68),  # scale 8, 68 handles
    (4, 32, 64, 1),  # scale 2
    (3, 64, 64, 5),  # scale 1
]


def random_features(channels, native, seed, dtype=torch.float32, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(1, channels, native, native, generator=generator)
    return values.to(device=device, dtype=dtype)


def random_points(count, image, seed, fractional=False):
    """[count, 2] float32 (row, col): corners and border pixels first, then random pixels."""
    generator = torch.Generator().manual_seed(seed)
    last = image - 1
    special = [[0, 0], [last, last], [0, last], [last, 0], [last, image // 2], [image // 3, 0]]
    points = torch.randint(0, image, (count, 2), generator=generator).float()
    points[: min(count, len(special))] = torch.tensor(special[:count], dtype=torch.float32)
    if fractional:
        points = points + torch.rand(count, 2, generator=generator) - 0.5
        points = points.clamp(0, last)
    return points


def random_targets(handles, image, seed, spread=6.0):
    """Fractional targets around the handles (some outside the image), one within 1 px."""
    generator = torch.Generator().manual_seed(seed + 1)
    targets = handles + torch.randn(handles.shape, generator=generator) * spread
    if handles.shape[0] > 2:
        targets[2] = handles[2] + torch.tensor([0.5, -0.6])  # within 1 px: no term
    return targets
