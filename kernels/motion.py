"""Motion supervision: its definition and the `draggan_fast::motion_loss` op.

For handle k at (row, col) with target t_k, d = t_k - handle (drow, dcol) and |d| > 1:

    term_k = mean over channels c and disk pixels q of |U[c, q].detach() - U[c, q + d / |d|]|

U is the feature map bilinearly upsampled to the image. `motion_supervision` is the definition,
the official DragGAN formulation on U (the reference step calls it on its U, the op's reference
on float32 U); `motion_disk` the official disk. Handles within 1 px of their target give 0, and
so does an empty disk (officially NaN; only a handle far outside the image has one). The op
returns the per-handle terms [K]; the motion loss is their sum. The gradient flows only through
the shifted sample into the native map. Fast implementations: kernels/motion_triton.py (CUDA)
and kernels/motion_torch.py (vectorised PyTorch); neither builds U.
"""

import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.kernels.implementations import drag_implementations, fast_module
from draggan_fast.kernels.stencil import motion_geometry
from draggan_fast.kernels.validation import check_features, check_points, check_radius

dispatch.register("motion_loss", "drag", drag_implementations("motion"))


def motion_disk(handle, radius, size, device):
    """(rows, cols) [P] int64 of the motion-supervision disk around one (row, col) handle.

    As officially, distances are measured on `torch.linspace(0, H, H)` coordinates made on the
    CPU (pixel i sits at i * H / (H - 1)), not on integer pixels; this is that exact set.
    """
    height, width = size
    row_coords = torch.linspace(0, height, height)  # [H]
    col_coords = torch.linspace(0, width, width)  # [W]
    grid_rows, grid_cols = torch.meshgrid(row_coords, col_coords, indexing="ij")  # [H, W] each
    grid_rows, grid_cols = grid_rows.to(device), grid_cols.to(device)
    distance = ((grid_rows - handle[0]) ** 2 + (grid_cols - handle[1]) ** 2) ** 0.5
    return torch.where(distance < radius)


def motion_samples(upsampled, handle, target, radius):
    """One handle's disk values U(q) (detached, as officially) and shifted samples
    U(q + d / |d|) (float32, differentiable): ([1, C, P], [1, C, P]), or None without a term.

    upsampled: [1, C, H, W] U (any float dtype; the shifted samples are read from it in float32,
    as officially); handle, target: (row, col) Python numbers; radius: the disk radius in pixels.
    """
    height, width = upsampled.shape[-2:]
    (row, col), (target_row, target_col) = handle, target
    direction = torch.tensor([target_col - col, target_row - row])  # (dcol, drow) float32
    length = torch.linalg.norm(direction)
    if length <= 1:
        return None
    rows, cols = motion_disk((row, col), radius, (height, width), upsampled.device)
    if rows.numel() == 0:  # officially a NaN term; only a handle far outside the image
        return None
    direction = (direction / (length + 1e-7)).to(upsampled.device)
    grid_rows = (rows + direction[1]) / (height - 1) * 2 - 1  # [P]
    grid_cols = (cols + direction[0]) / (width - 1) * 2 - 1  # [P]
    grid = torch.stack([grid_cols, grid_rows], dim=-1)[None, None]  # [1, 1, P, 2] (x, y)
    shifted = F.grid_sample(upsampled.float(), grid, align_corners=True).squeeze(2)  # [1, C, P]
    return upsampled[:, :, rows, cols].detach(), shifted


def motion_supervision(upsampled, handles, targets, radius):
    """The motion supervision terms of the official step, one per handle, in handle order:
    l1(U(q), U(q + d / |d|)) over the disk (`motion_samples`).

    upsampled: [1, C, H, W] U (with grad); handles, targets: K (row, col) pairs of Python
    numbers; radius: the disk radius in pixels. Returns K float32 0-d tensors (a constant 0 for a
    handle without a term).
    """
    terms = []
    for handle, target in zip(handles, targets):
        samples = motion_samples(upsampled, handle, target, radius)
        if samples is None:
            terms.append(upsampled.new_zeros((), dtype=torch.float32))
        else:
            terms.append(F.l1_loss(*samples))
    return terms


def motion_loss_reference(features, handles, targets, image_size, radius):
    """The op's reference: `motion_supervision` on U upsampled in float32 (as the kernels
    compute it from the native values), stacked: [K] float32.

    features [1, C, h, w]; handles, targets [K, 2] float (row, col); image_size (H, W).
    """
    upsampled = F.interpolate(features.float(), list(image_size), mode="bilinear")  # [1,C,H,W]
    terms = motion_supervision(upsampled, handles.tolist(), targets.tolist(), radius)
    return torch.stack(terms) if terms else upsampled.new_zeros(0)


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
    sums = fast_module("motion_loss", "motion", features.device).motion_sums(
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
    return fast_module("motion_loss", "motion", features.device).motion_grad(
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
    radius in image pixels (an int, round(r1 * H / 512) officially). Runs the implementation
    `draggan_fast.dispatch` chooses (DRAGGAN_FAST_OPS, e.g. `motion_loss=torch`).
    """
    check_features(features, "features")
    height, width = check_points(handles, targets, image_size, features.device)
    radius = check_radius(radius)
    if dispatch.runs("motion_loss", features.device.type, "reference"):
        return motion_loss_reference(features, handles, targets, (height, width), radius)
    return _motion_loss_op(features, handles, targets, height, width, radius)
