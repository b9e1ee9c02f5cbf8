"""The `reference` backend: the official DragGAN step (XingangPan/DragGAN viz/renderer.py,
`_render_drag_impl`) in plain PyTorch, numerically the same. It is the oracle the fast backend
is tested against, so it favours the official order of operations over speed (host syncs,
Python loops over handles).

Internal coordinates are (row, col) pixels; after tracking, handles are whole pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from draggan_fast.step.backend import (
    DragState,
    FeatureReferences,
    StepBackend,
    StepOutput,
    image_to_uint8,
    register_backend,
)


def upsample_features(feature_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[1, C, h, w] -> [1, C, H, W], bilinear with align_corners=False (official)."""
    return F.interpolate(feature_map, list(size), mode="bilinear")


def take_references(feature_map: torch.Tensor, size, handles_rc) -> FeatureReferences:
    """f_i = upsampled F0 at each rounded (row, col) handle. feature_map: [1, C, h, w]."""
    feature_map = feature_map.detach()
    upsampled = upsample_features(feature_map, size)  # [1, C, H, W]
    rows = [round(row) for row, _ in handles_rc]
    cols = [round(col) for _, col in handles_rc]
    handle_features = upsampled[0][:, rows, cols].t().contiguous()  # [C, K] -> [K, C]
    return FeatureReferences(handle_features=handle_features, feature_map=feature_map)


def track_handles(features, handle_features, handles_rc, tracking_radius, tracking="l2"):
    """Nearest-feature search around each handle (no grad).

    features: [1, C, H, W] upsampled map; handle_features: [K, C]; handles_rc: K (row, col).
    Returns the new handles as K [row, col] lists of ints. The window is the square of half-size
    tracking_radius around the rounded handle, clipped to the image; ties go to the first pixel
    in row-major order.
    """
    height, width = features.shape[-2:]
    tracked = []
    for reference, (row, col) in zip(handle_features, handles_rc):
        row, col = round(row), round(col)
        top, bottom = max(row - tracking_radius, 0), min(row + tracking_radius + 1, height)
        left, right = max(col - tracking_radius, 0), min(col + tracking_radius + 1, width)
        patch = features[:, :, top:bottom, left:right]  # [1, C, h_win, w_win]
        difference = patch - reference.reshape(1, -1, 1, 1)
        if tracking == "l1":
            distance = difference.abs().sum(dim=1)  # [1, h_win, w_win]
        else:
            distance = torch.linalg.norm(difference, dim=1)  # [1, h_win, w_win]
        _, flat_index = torch.min(distance.view(1, -1), -1)
        flat_index = flat_index.item()
        window_width = right - left
        tracked.append([flat_index // window_width + top, flat_index % window_width + left])
    return tracked


def motion_disk(handle_rc, motion_radius, size, device):
    """(rows, cols) of the motion-supervision disk around one (row, col) handle.

    As officially, distances are measured on `torch.linspace(0, H, H)` coordinates (pixel i sits
    at i * H / (H - 1)), not on integer pixels; this reproduces that exact set.
    """
    height, width = size
    row_coords = torch.linspace(0, height, height)  # [H], made on the CPU as officially
    col_coords = torch.linspace(0, width, width)  # [W]
    grid_rows, grid_cols = torch.meshgrid(row_coords, col_coords, indexing="ij")  # [H, W] each
    grid_rows, grid_cols = grid_rows.to(device), grid_cols.to(device)
    distance = ((grid_rows - handle_rc[0]) ** 2 + (grid_cols - handle_rc[1]) ** 2) ** 0.5
    return torch.where(distance < motion_radius)


def motion_loss(features, handles_rc, targets_rc, motion_radius):
    """Sum over handles further than 1 px from their target of
    l1(F(q).detach(), F(q + d)) over the disk q, d the unit step toward the target.

    features: [1, C, H, W] upsampled map (with grad). Returns a 0-d tensor (0 when no term).
    """
    height, width = features.shape[-2:]
    loss = features.new_zeros((), dtype=torch.float32)
    for (row, col), (target_row, target_col) in zip(handles_rc, targets_rc):
        direction = torch.tensor([target_col - col, target_row - row])  # (dcol, drow) float32
        length = torch.linalg.norm(direction)
        if length <= 1:
            continue
        rows, cols = motion_disk((row, col), motion_radius, (height, width), features.device)
        direction = (direction / (length + 1e-7)).to(features.device)
        grid_rows = (rows + direction[1]) / (height - 1) * 2 - 1  # [P]
        grid_cols = (cols + direction[0]) / (width - 1) * 2 - 1  # [P]
        grid = torch.stack([grid_cols, grid_rows], dim=-1).unsqueeze(0).unsqueeze(0)  # [1,1,P,2]
        shifted = F.grid_sample(features.float(), grid, align_corners=True).squeeze(2)  # [1,C,P]
        loss = loss + F.l1_loss(features[:, :, rows, cols].detach(), shifted)
    return loss


def mask_loss(features, reference_features, movable_mask, lambda_mask):
    """lambda * l1(F * (1 - M), F0 * (1 - M)): the fixed region keeps its features."""
    fixed = (1 - movable_mask).unsqueeze(0).unsqueeze(0)  # [1, 1, H, W]
    return lambda_mask * F.l1_loss(features * fixed, reference_features * fixed)


def is_done(handles_rc, targets_rc, stop_distance) -> bool:
    """True when every handle is within stop_distance of its target (official float32 norm)."""
    for (row, col), (target_row, target_col) in zip(handles_rc, targets_rc):
        direction = torch.tensor([target_col - col, target_row - row])
        if torch.linalg.norm(direction) > stop_distance:
            return False
    return True


@register_backend
class ReferenceBackend(StepBackend):
    """Plain PyTorch, official order of operations; runs on any device."""

    name = "reference"

    def describe(self, device: torch.device) -> str:
        return "reference: plain PyTorch, the official DragGAN step"

    def step(self, state: DragState, render: bool) -> StepOutput:
        config = state.config
        synthesis = state.generator.synthesis
        stop = config.feature_block + 1
        handles_rc = state.handles.tolist()
        targets_rc = state.targets.tolist()

        with record_function("draggan/forward_features"):
            ws = state.styles()  # [1, num_ws, w_dim]
            x, img = synthesis.run_blocks(ws, 0, stop, noise_mode=config.noise_mode)
            size = (synthesis.img_resolution, synthesis.img_resolution)
            features = upsample_features(x, size)  # [1, C, H, W]

        references = state.references
        if references is None:
            references = take_references(x, size, handles_rc)

        with record_function("draggan/tracking"), torch.no_grad():
            handles_rc = track_handles(
                features, references.handle_features, handles_rc, config.tracking_radius,
                config.tracking,
            )  # fmt: skip

        with record_function("draggan/motion"):
            done = is_done(handles_rc, targets_rc, config.stop_distance)
            loss_motion = motion_loss(features, handles_rc, targets_rc, config.motion_radius)

        loss = loss_motion
        loss_mask = torch.zeros((), device=features.device)
        if state.movable_mask is not None:
            with record_function("draggan/mask"):
                reference_features = upsample_features(references.feature_map, size)
                loss_mask = mask_loss(
                    features, reference_features, state.movable_mask, config.lambda_mask
                )
                loss = loss + loss_mask

        if not done:
            with record_function("draggan/backward"):
                state.optimizer.zero_grad()
                if loss.requires_grad:  # no term at all: no gradient, so Adam skips w
                    torch.autograd.backward(loss, inputs=[state.w])
            with record_function("draggan/optimizer"):
                state.optimizer.step()

        image = None
        if render:
            with record_function("draggan/synthesis_rest"), torch.no_grad():
                _, img = synthesis.run_blocks(
                    ws.detach(), stop, None, x=x.detach(), img=img.detach(),
                    noise_mode=config.noise_mode,
                )  # fmt: skip
                image = image_to_uint8(img)

        return StepOutput(
            handles=torch.tensor(handles_rc, dtype=torch.float32, device=state.handles.device),
            references=references,
            done=torch.tensor(done),
            losses={
                "motion": loss_motion.detach(),
                "mask": loss_mask.detach(),
                "total": loss.detach(),
            },
            image=image,
        )
