"""Point tracking: its definition and the `draggan_fast::track_handles` op.

Each handle (row, col) moves to the pixel of the window [row - r, row + r] x [col - r, col + r]
(clipped to the image) whose upsampled feature U[:, y, x] is nearest to the handle's reference
feature f_i by L2 (or L1) distance over channels; ties go to the first pixel in row-major order,
like torch.min on the official flattened patch. Handles are rounded to pixels first. `track` is
the definition, the official DragGAN loop on U (the reference step calls it on its U, the op's
reference on float32 U). The output is not differentiable. Fast implementations:
kernels/tracking_triton.py (CUDA) and kernels/tracking_torch.py (vectorised PyTorch); neither
builds U.
"""

import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.kernels.implementations import drag_implementations, fast_module
from draggan_fast.kernels.stencil import tracking_centers
from draggan_fast.kernels.validation import (
    check_features,
    check_image_size,
    check_point_tensor,
    check_radius,
)

METRICS = ("l2", "l1")  # the distances tracking can use (session/inputs.py takes them from here)

dispatch.register("track_handles", "drag", drag_implementations("tracking"))


def track(upsampled, references, handles, radius, metric="l2"):
    """The official tracking loop: the new handles as K [row, col] lists of ints.

    upsampled: [1, C, H, W] U; references: [K, C] f_i (the distances are computed in their
    common dtype); handles: K (row, col) pairs of Python numbers; radius: the window half-size in
    pixels; metric: "l2" or "l1". Syncs with the device once per handle, as officially.
    """
    height, width = upsampled.shape[-2:]
    order = 2 if metric == "l2" else 1
    found = []
    for reference, (row, col) in zip(references, handles):
        row, col = round(row), round(col)
        top, bottom = max(row - radius, 0), min(row + radius + 1, height)
        left, right = max(col - radius, 0), min(col + radius + 1, width)
        patch = upsampled[:, :, top:bottom, left:right]  # [1, C, rows, cols]
        distance = torch.linalg.vector_norm(patch - reference.reshape(1, -1, 1, 1), order, dim=1)
        _, index = torch.min(distance.view(1, -1), -1)
        index = index.item()
        patch_width = right - left
        found.append([index // patch_width + top, index % patch_width + left])
    return found


def track_handles_reference(features, feature_refs, handles, image_size, radius, metric="l2"):
    """The op's reference: `track` on U upsampled in float32 (as the kernels compute it from the
    native values), with float32 references: [K, 2] float32."""
    upsampled = F.interpolate(features.float(), list(image_size), mode="bilinear")  # [1,C,H,W]
    found = track(upsampled, feature_refs.float(), handles.tolist(), radius, metric)
    return torch.tensor(found, dtype=torch.float32, device=features.device).reshape(-1, 2)


@torch.library.custom_op("draggan_fast::track_handles", mutates_args=())
def _track_handles_op(
    features: torch.Tensor,
    feature_refs: torch.Tensor,
    handles: torch.Tensor,
    image_height: int,
    image_width: int,
    radius: int,
    metric: str,
) -> torch.Tensor:
    return fast_module("track_handles", "tracking", features.device).track(
        features, feature_refs, tracking_centers(handles), (image_height, image_width), radius,
        metric,
    )  # fmt: skip


@_track_handles_op.register_fake
def _(features, feature_refs, handles, image_height, image_width, radius, metric):
    return handles.new_empty(handles.shape, dtype=torch.float32)


def track_handles(features, feature_refs, handles, image_size, radius, metric="l2"):
    """New handle positions [K, 2] float32 (row, col), computed on the features' device.

    features [1, C, h, w]; feature_refs [K, C] (U0 at the starting handles, see
    `sample_upsampled`); handles [K, 2] float32 (row, col) inside the image; radius: the window
    half-size in image pixels (round(r2 * H / 512) officially); metric "l2" or "l1". Runs the
    implementation `draggan_fast.dispatch` chooses (DRAGGAN_FAST_OPS, e.g. `track_handles=torch`).
    """
    check_features(features, "features")
    check_point_tensor(handles, "handles", features.device)
    height, width = check_image_size(image_size)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    radius = check_radius(radius)
    expected = (handles.shape[0], features.shape[1])
    if not isinstance(feature_refs, torch.Tensor):
        raise TypeError(f"feature_refs must be a torch.Tensor, got {type(feature_refs).__name__}")
    if tuple(feature_refs.shape) != expected:
        raise ValueError(f"feature_refs must be {list(expected)}, got {list(feature_refs.shape)}")
    if feature_refs.device != features.device:
        raise ValueError(
            f"feature_refs must be on {features.device} like the features, "
            f"got {feature_refs.device}"
        )
    with torch.no_grad():
        if dispatch.runs("track_handles", features.device.type, "reference"):
            size = (height, width)
            return track_handles_reference(features, feature_refs, handles, size, radius, metric)
        return _track_handles_op(
            features.detach(), feature_refs.detach(), handles, height, width, radius, metric
        )
