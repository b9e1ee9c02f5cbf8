"""Motion supervision: the reference definition and the `draggan_fast::motion_loss` op.

For handle k at (row, col) with target t_k, d = t_k - handle (drow, dcol) and |d| > 1:

    term_k = mean over channels c and disk pixels q of |U[c, q].detach() - U[c, q + d / |d|]|

U is the feature map bilinearly upsampled to the image; the disk and the shifted sample are the
official ones (see `motion_loss_reference`). Handles within 1 px of their target give 0, and so
does an empty disk. The op returns the per-handle terms [K]; the motion loss is their sum. The
gradient flows only through the shifted sample into the native map. Implementations:
kernels/motion_triton.py (CUDA) and kernels/motion_cpu.py (vectorised PyTorch); neither builds U.
"""

import torch
import torch.nn.functional as F

from draggan_fast.kernels.dispatch import implementation
from draggan_fast.kernels.stencil import motion_geometry
from draggan_fast.kernels.validation import check_features, check_points, check_radius


def motion_loss_reference(features, handles, targets, image_size, radius):
    """The official motion supervision, plain PyTorch on the materialised U: [K] float32.

    features [1, C, h, w]; handles, targets [K, 2] float (row, col); image_size (H, W).
    """
    height, width = image_size
    upsampled = F.interpolate(features.float(), [height, width], mode="bilinear")  # [1, C, H, W]
    row_coords, col_coords = torch.meshgrid(
        torch.linspace(0, height, height, device=features.device),
        torch.linspace(0, width, width, device=features.device),
        indexing="ij",
    )  # [H, W] each
    terms = []
    for handle, target in zip(handles.float(), targets.float()):
        delta = target - handle  # (drow, dcol)
        length = torch.linalg.vector_norm(delta)
        distance = ((row_coords - handle[0]) ** 2 + (col_coords - handle[1]) ** 2) ** 0.5
        disk_rows, disk_cols = torch.where(distance < radius)
        if length <= 1 or disk_rows.numel() == 0:
            terms.append(upsampled.new_zeros(()))
            continue
        direction = delta / (length + 1e-7)
        grid_rows = (disk_rows + direction[0]) / (height - 1) * 2 - 1
        grid_cols = (disk_cols + direction[1]) / (width - 1) * 2 - 1
        grid = torch.stack([grid_cols, grid_rows], dim=-1)[None, None]  # [1, 1, n, 2] (x, y)
        shifted = F.grid_sample(upsampled, grid, align_corners=True).squeeze(2)  # [1, C, n]
        terms.append(F.l1_loss(upsampled[:, :, disk_rows, disk_cols].detach(), shifted))
    if not terms:
        return upsampled.new_zeros(0)
    return torch.stack(terms)


@torch.library.custom_op("draggan_fast::motion_loss", mutates_args=())
def _motion_loss_op(
    features: torch.Tensor,
    handles: torch.Tensor,
    targets: torch.Tensor,
    image_height: int,
    image_width: int,
    radius: int,
) -> torch.Tensor:
    image_size = (image_height, image_width)
    geometry = motion_geometry(handles, targets, radius, image_size, features.shape[1])
    sums = implementation("motion_loss", features.device).motion_sums(
        features, geometry, image_size
    )
    return sums * geometry.disk_scale


@_motion_loss_op.register_fake
def _(features, handles, targets, image_height, image_width, radius):
    return handles.new_empty(handles.shape[0], dtype=torch.float32)


@torch.library.custom_op("draggan_fast::motion_loss_backward", mutates_args=())
def _motion_loss_backward_op(
    grad_terms: torch.Tensor,
    features: torch.Tensor,
    handles: torch.Tensor,
    targets: torch.Tensor,
    image_height: int,
    image_width: int,
    radius: int,
) -> torch.Tensor:
    image_size = (image_height, image_width)
    geometry = motion_geometry(handles, targets, radius, image_size, features.shape[1])
    grad_sums = grad_terms.to(torch.float32) * geometry.disk_scale
    return implementation("motion_loss", features.device).motion_grad(
        features, geometry, image_size, grad_sums
    )


@_motion_loss_backward_op.register_fake
def _(grad_terms, features, handles, targets, image_height, image_width, radius):
    return torch.empty_like(features)


def _setup_context(ctx, inputs, output):
    features, handles, targets, image_height, image_width, radius = inputs
    ctx.save_for_backward(features, handles, targets)
    ctx.image_size = (image_height, image_width)
    ctx.radius = radius


def _backward(ctx, grad_terms):
    features, handles, targets = ctx.saved_tensors
    grad_features = torch.ops.draggan_fast.motion_loss_backward(
        grad_terms, features, handles, targets, *ctx.image_size, ctx.radius
    )
    return grad_features, None, None, None, None, None


_motion_loss_op.register_autograd(_backward, setup_context=_setup_context)


def motion_loss(features, handles, targets, image_size, radius):
    """Per-handle motion supervision terms [K] (float32) without building the upsampled map.

    features [1, C, h, w] (the feature block's output, any float dtype); handles, targets [K, 2]
    float32 (row, col) image pixels on the features' device; image_size (H, W); radius: the disk
    radius in image pixels (an int, round(r1 * H / 512) officially).
    """
    check_features(features, "features")
    height, width = check_points(handles, targets, image_size, features.device)
    radius = check_radius(radius)
    return _motion_loss_op(features, handles, targets, height, width, radius)
