"""The `reference` backend: the official DragGAN step (XingangPan/DragGAN viz/renderer.py,
`_render_drag_impl`) in plain PyTorch, numerically the same. It is the oracle the fast backend
is tested against, so it favours the official order of operations over speed (host syncs,
Python loops over handles).

The drag math is defined once, in the drag ops' files (kernels/motion.py `motion_supervision`,
kernels/mask.py `mask_term`, kernels/tracking.py `track`); this step upsamples the feature map
once, in its own dtype as officially (float16 blocks give a float16 U), and calls them on it.
The ops' references call them on a float32 U instead (what the kernels compute).

Internal coordinates are (row, col) pixels; after tracking, handles are whole pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from draggan_fast.kernels.mask import mask_term
from draggan_fast.kernels.motion import motion_supervision
from draggan_fast.kernels.tracking import track
from draggan_fast.step.backend import (
    DragState,
    FeatureReferences,
    PendingStep,
    StepBackend,
    StepOutput,
    image_to_uint8,
    optimise,
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
    """Nearest-feature search around each handle (no grad): kernels/tracking.py `track`.

    features: [1, C, H, W] upsampled map; handle_features: [K, C]; handles_rc: K (row, col).
    Returns the new handles as K [row, col] lists of ints.
    """
    return track(features, handle_features, handles_rc, tracking_radius, tracking)


def motion_loss(features, handles_rc, targets_rc, motion_radius):
    """Sum of the motion supervision terms (kernels/motion.py `motion_supervision`), added in
    handle order as officially. features: [1, C, H, W] upsampled map (with grad). Returns a 0-d
    tensor (0 when no term)."""
    loss = features.new_zeros((), dtype=torch.float32)
    for term in motion_supervision(features, handles_rc, targets_rc, motion_radius):
        loss = loss + term
    return loss


def mask_loss(features, reference_features, movable_mask, lambda_mask):
    """lambda * the mask term (kernels/mask.py `mask_term`): the fixed region keeps its
    features."""
    return lambda_mask * mask_term(features, reference_features, movable_mask)


def is_done(handles_rc, targets_rc, stop_distance) -> bool:
    """True when every handle is within stop_distance of its target (official float32 norm)."""
    for (row, col), (target_row, target_col) in zip(handles_rc, targets_rc):
        direction = torch.tensor([target_col - col, target_row - row])
        if torch.linalg.norm(direction) > stop_distance:
            return False
    return True


def rows(tensor: torch.Tensor, indices: list[int]) -> torch.Tensor:
    """tensor[indices] along the batch, the tensor itself when that is all of it."""
    return tensor if indices == list(range(len(tensor))) else tensor[indices]


def stacked_styles(states: list[DragState]) -> torch.Tensor:
    """Each state's ws stacked: [B, num_ws, w_dim], differentiable in each state's w."""
    styles = [state.styles() for state in states]  # B x [1, num_ws, w_dim]
    return styles[0] if len(styles) == 1 else torch.cat(styles)


@register_backend
class ReferenceBackend(StepBackend):
    """Plain PyTorch, official order of operations; runs on any device. A step is the batch of
    one: `step_batch` runs the forward pass of several sessions at once, the rest per session."""

    name = "reference"
    batches = True

    def describe(self, device: torch.device) -> str:
        return "reference: plain PyTorch, the official DragGAN step"

    def batch_note(self, device: torch.device) -> str:
        return "reference: the generator's blocks on the stacked w's, drag math per session"

    def step(self, state: DragState, render: bool) -> StepOutput:
        return self.step_batch([state], [render])[0]

    def step_batch(self, states: list[DragState], renders: list[bool]) -> list[StepOutput]:
        config = states[0].config  # feature_block and noise_mode: the same for the batch
        synthesis = states[0].generator.synthesis
        stop = config.feature_block + 1
        size = (synthesis.img_resolution, synthesis.img_resolution)
        with record_function("draggan/forward_features"):
            ws = stacked_styles(states)  # [B, num_ws, w_dim]
            x, img = synthesis.run_blocks(ws, 0, stop, noise_mode=config.noise_mode)
        pendings = [
            self._track_and_losses(state, x[index : index + 1], size)
            for index, state in enumerate(states)
        ]
        optimise(pendings)
        images = [None] * len(states)
        rendered = [index for index, render in enumerate(renders) if render]
        if rendered:
            with record_function("draggan/synthesis_rest"), torch.no_grad():
                _, img = synthesis.run_blocks(
                    rows(ws.detach(), rendered), stop, None, x=rows(x.detach(), rendered),
                    img=rows(img.detach(), rendered), noise_mode=config.noise_mode,
                )  # fmt: skip
            for row, index in enumerate(rendered):
                images[index] = image_to_uint8(img[row : row + 1])
        return [pending.output(image) for pending, image in zip(pendings, images)]

    @staticmethod
    def _track_and_losses(state: DragState, x: torch.Tensor, size) -> PendingStep:
        """One session's part of a step on its feature map x [1, C, h, w] (with grad)."""
        config = state.config
        handles_rc = state.handles.tolist()
        targets_rc = state.targets.tolist()
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

        return PendingStep(
            state=state,
            handles=torch.tensor(handles_rc, dtype=torch.float32, device=state.handles.device),
            references=references,
            done=torch.tensor(done),
            losses={"motion": loss_motion, "mask": loss_mask, "total": loss},
            steps=not done,
        )
