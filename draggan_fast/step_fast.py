"""The `fast` backend: the reference step (draggan_fast/step_reference.py) on the fused drag ops.

What it does differently, with the same results:
- the feature map is never upsampled to the image: tracking, motion supervision and the mask
  term read the native map through `draggan_fast.kernels` (Triton on CUDA, vectorised PyTorch on
  the CPU; `describe()` says which and why);
- no GPU-to-CPU synchronisation inside a step: handles, the stop decision and whether w is
  updated stay tensors on the device (the session reads them once, after the step);
- the generator's weights are frozen (requires_grad False), so only w gets a gradient, and the
  modulated convolutions run unfused (activations scaled around a shared convolution), whose
  backward needs no gradient with respect to a per-sample weight;
- the blocks after the feature block run without autograd, and only when an image is wanted.

`DRAGGAN_FAST_COMPILE=1` runs the differentiable part of a step through torch.compile.
Internal coordinates are (row, col) pixels.
"""

from __future__ import annotations

import os

import torch
from torch.profiler import record_function

from draggan_fast.kernels import (
    describe_dispatch,
    mask_loss,
    motion_loss,
    sample_upsampled,
    track_handles,
)
from draggan_fast.step_backend import (
    DragConfig,
    DragState,
    FeatureReferences,
    StepBackend,
    StepOutput,
    build_styles,
    image_to_uint8,
    register_backend,
)

COMPILE_ENV_VAR = "DRAGGAN_FAST_COMPILE"


def forward_and_losses(synthesis, w, w0, references, handles, targets, movable_mask, config):
    """The differentiable part of a step, all on the device (no host sync).

    w: the optimised latent; references: FeatureReferences or None (then taken from this pass);
    handles, targets: [K, 2] float32 (row, col); movable_mask: [H, W] or None.
    Returns (tracked handles [K, 2], motion, mask, total, done, update, handle_features [K, C],
    feature_map [1, C, h, w], ws, features, img) where `update` is False when the reference step
    would leave w alone (done, or no loss term at all).
    """
    size = (synthesis.img_resolution, synthesis.img_resolution)
    with record_function("draggan/forward_features"):
        ws = build_styles(w, w0, config)  # [1, num_ws, w_dim]
        features, img = synthesis.run_blocks(
            ws, 0, config.feature_block + 1, noise_mode=config.noise_mode, fused_modconv=False
        )  # features: [1, C, h, w]
    if references is None:
        handle_features = sample_upsampled(features.detach(), handles, size)  # [K, C]
        feature_map = features.detach()
    else:
        handle_features, feature_map = references.handle_features, references.feature_map
    with record_function("draggan/tracking"):
        tracked = track_handles(
            features, handle_features, handles, size, config.tracking_radius, config.tracking
        )
    with record_function("draggan/motion"):
        terms = motion_loss(features, tracked, targets, size, config.motion_radius)  # [K]
        loss_motion = terms.sum()
        distances = torch.linalg.vector_norm(targets - tracked, dim=1)  # [K]
        done = (distances <= config.stop_distance).all()
        has_term = (distances > 1).any()
    loss_mask = torch.zeros((), device=features.device)
    if movable_mask is not None:
        with record_function("draggan/mask"):
            loss_mask = config.lambda_mask * mask_loss(features, feature_map, movable_mask)
        has_term = torch.ones_like(has_term)
    total = loss_motion + loss_mask
    update = has_term & ~done
    return (
        tracked, loss_motion, loss_mask, total, done, update, handle_features, feature_map, ws,
        features, img,
    )  # fmt: skip


def _snapshot(optimizer, w):
    """Copies of the optimizer state of w (absent entries count as zeros, as Adam starts)."""
    state = optimizer.state.get(w, {})
    return {name: value.clone() for name, value in state.items() if torch.is_tensor(value)}


def _keep_unless(update, optimizer, w, w_before, state_before):
    """Undo the optimizer step where `update` is False, without reading it on the host."""
    with torch.no_grad():
        w.copy_(torch.where(update, w, w_before))
        for name, value in optimizer.state[w].items():
            if torch.is_tensor(value):
                before = state_before.get(name, torch.zeros_like(value))
                value.copy_(torch.where(update.to(value.device), value, before))


@register_backend
class FastBackend(StepBackend):
    """Fused drag ops, no host sync inside a step, frozen generator weights."""

    name = "fast"

    def __init__(self, config: DragConfig):
        super().__init__(config)
        self._device = None
        self._losses = forward_and_losses
        if os.environ.get(COMPILE_ENV_VAR, "0") == "1":
            self._losses = torch.compile(forward_and_losses)

    def describe(self) -> str:
        device = self._device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        ops = "; ".join(
            f"{row['op'].split('::')[1]}: {row['implementation']} ({row['reason']})"
            for row in describe_dispatch(device)
        )
        compiled = ", torch.compile" if self._losses is not forward_and_losses else ""
        return f"fast on {device}{compiled}: {ops}"

    def make_optimizer(self, w: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        """Adam as officially; on CUDA `capturable`, so its step count stays on the device."""
        return torch.optim.Adam([w], lr=lr, capturable=w.is_cuda)

    def step(self, state: DragState, render: bool) -> StepOutput:
        synthesis = state.generator.synthesis
        self._device = state.w.device
        state.generator.requires_grad_(False)  # frozen: only w gets a gradient
        w_before = state.w.detach().clone()
        optimizer_before = _snapshot(state.optimizer, state.w)

        outputs = self._losses(
            synthesis, state.w, state.w0, state.references, state.handles, state.targets,
            state.movable_mask, self.config,
        )  # fmt: skip
        tracked, loss_motion, loss_mask, total, done, update = outputs[:6]
        handle_features, feature_map, ws, features, img = outputs[6:]
        with record_function("draggan/backward"):
            state.optimizer.zero_grad()
            torch.autograd.backward(total, inputs=[state.w])
        with record_function("draggan/optimizer"):
            state.optimizer.step()
            _keep_unless(update, state.optimizer, state.w, w_before, optimizer_before)

        image = None
        if render:
            with record_function("draggan/synthesis_rest"), torch.no_grad():
                _, img = synthesis.run_blocks(
                    ws.detach(), self.config.feature_block + 1, None, x=features.detach(),
                    img=img.detach(), noise_mode=self.config.noise_mode,
                )  # fmt: skip
                image = image_to_uint8(img)
        return StepOutput(
            handles=tracked,
            references=FeatureReferences(handle_features, feature_map),
            done=done,
            losses={
                "motion": loss_motion.detach(),
                "mask": loss_mask.detach(),
                "total": total.detach(),
            },
            image=image,
        )
