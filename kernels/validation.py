"""Argument checks shared by the drag ops: shapes, dtypes and devices only (no host sync)."""

import torch


def check_features(features, name, like=None):
    """features: a floating [1, C, h, w] tensor (matching `like` in shape and device if given)."""
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(features).__name__}")
    if features.ndim != 4 or features.shape[0] != 1:
        raise ValueError(f"{name} must be [1, C, h, w], got {list(features.shape)}")
    if not features.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {features.dtype}")
    if like is not None and (features.shape != like.shape or features.device != like.device):
        raise ValueError(
            f"{name} must match features: {list(like.shape)} on {like.device}, "
            f"got {list(features.shape)} on {features.device}"
        )


def check_image_size(image_size):
    """(H, W) as two ints >= 2."""
    try:
        height, width = (int(size) for size in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (height, width), got {image_size!r}") from None
    if height < 2 or width < 2 or (height, width) != tuple(image_size):
        raise ValueError(f"image_size must be two integers >= 2, got {image_size!r}")
    return height, width


def check_point_tensor(points, name, device):
    """points: float32 [K, 2] (row, col) on `device`."""
    if not isinstance(points, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} must be [K, 2] (row, col), got {list(points.shape)}")
    if points.dtype != torch.float32:
        raise TypeError(f"{name} must be float32, got {points.dtype}")
    if points.device != device:
        raise ValueError(f"{name} must be on {device} like the features, got {points.device}")


def check_points(handles, targets, image_size, device):
    """Handles and targets [K, 2] float32 on `device`; returns (H, W)."""
    check_point_tensor(handles, "handles", device)
    check_point_tensor(targets, "targets", device)
    if handles.shape != targets.shape:
        raise ValueError(
            f"handles and targets must have the same shape, got {list(handles.shape)} "
            f"and {list(targets.shape)}"
        )
    return check_image_size(image_size)


def check_radius(radius):
    """A radius in image pixels: a non-negative integer (of any numeric type); returns the int."""
    try:
        valid = int(radius) == radius and radius >= 0
    except (TypeError, ValueError, OverflowError):  # None, strings, nan, inf
        valid = False
    if not valid:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    return int(radius)
