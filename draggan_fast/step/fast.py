"""The `fast` backend: the reference step (draggan_fast/step/reference.py) on the fused drag ops.

What it does differently, with the same results:
- the feature map is never upsampled to the image: tracking, motion supervision and the mask
  term read the native map through `draggan_fast.kernels` (Triton on CUDA, vectorised PyTorch on
  the CPU; `describe()` says which and why);
- no GPU-to-CPU synchronisation inside a step: handles, the stop decision and whether w is
  updated stay tensors on the device (the session reads them only when asked: StepResult in
  draggan_fast/step/result.py); a step given `DragState.halted` True leaves w, the optimizer
  state and the handles as they were, decided on the device (`_keep_unless`);
- the generator's weights are frozen (requires_grad False), so only w gets a gradient; on the
  CPU the feature blocks run as `FrozenFeatureSynthesis` (stylegan/frozen_synthesis.py:
  precomputed demodulation, premodulated weights for the fixed w0 rows, and without a mask the
  feature block only around the handles), elsewhere as the generator's own blocks with
  `fused_modconv=False`;
- the blocks after the feature block run without autograd, and only when an image is wanted.

`DragSession(compile=True)` runs the differentiable part of a step through torch.compile; the
environment variable DRAGGAN_FAST_COMPILE overrides that choice: 1 compiles, 0 does not.
On CUDA the device part of a step (forward, backward, Adam) is replayed as a CUDA graph
(draggan_fast/step/cuda_graph.py) unless `DragSession(cuda_graph=False)`;
DRAGGAN_FAST_CUDA_GRAPH=0/1 overrides either.
Internal coordinates are (row, col) pixels.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch.profiler import record_function

from draggan_fast.kernels import (
    describe_dispatch,
    mask_loss,
    motion_loss,
    sample_upsampled,
    track_handles,
)
from draggan_fast.step.backend import (
    DragState,
    FeatureReferences,
    PendingStep,
    StepBackend,
    StepOutput,
    build_styles,
    image_to_uint8,
    optimise,
    register_backend,
)
from draggan_fast.step.cuda_graph import GRAPH_ENV_VAR, DeviceStep, StepGraph
from draggan_fast.stylegan.frozen_synthesis import FrozenFeatureSynthesis

COMPILE_ENV_VAR = "DRAGGAN_FAST_COMPILE"


class FrozenBlocks(NamedTuple):
    """The feature blocks a fast step runs, made for one generator's weights on one device."""

    key: tuple  # (synthesis, device, the weights' (data_ptr, version)): made again when it moves
    device: torch.device
    synthesis: FrozenFeatureSynthesis | None  # None: the generator's own blocks run
    reason: str  # why (FrozenFeatureSynthesis.applies), for describe()


class DragLosses(NamedTuple):
    """What `drag_losses` computes for one session, all on the device."""

    tracked: torch.Tensor  # [K, 2] float32 (row, col): the handles found by tracking
    loss_motion: torch.Tensor  # scalar
    loss_mask: torch.Tensor  # scalar, lambda included (0 without a mask)
    total: torch.Tensor  # scalar: motion + mask, differentiable in w
    done: torch.Tensor  # bool scalar: every handle within stop_distance
    update: torch.Tensor  # bool scalar: False where the reference step leaves w alone
    handle_features: torch.Tensor  # [K, C]: the references in force
    feature_map: torch.Tensor  # [1, C, h, w]: the references in force


class ForwardPass(NamedTuple):
    """What `forward_and_losses` computes, all on the device."""

    losses: DragLosses  # the session's tracking, losses and references in force
    ws: torch.Tensor  # [1, num_ws, w_dim]
    features: torch.Tensor  # [1, C, h, w]: this pass's feature map
    image_state: object  # what `render_rest` needs


def forward_features(synthesis, frozen, regions, ws, config):
    """ws [B, num_ws, w_dim] -> (features [B, C, h, w], what `render_rest` needs): the frozen
    blocks (B = 1 only) or the generator's own blocks with `fused_modconv=False`."""
    with record_function("draggan/forward_features"):
        if frozen is not None:
            return frozen.features(ws, config.noise_mode, regions)
        return synthesis.run_blocks(
            ws, 0, config.feature_block + 1, noise_mode=config.noise_mode, fused_modconv=False,
        )  # fmt: skip


def drag_losses(size, features, references, handles, targets, movable_mask, config):
    """One session's tracking and losses on its feature map [1, C, h, w] (with grad), all on the
    device. references: FeatureReferences or None (then taken from `features`)."""
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
    return DragLosses(
        tracked, loss_motion, loss_mask, total, done, update, handle_features, feature_map
    )


def forward_and_losses(
    synthesis, frozen, regions, w, w0, references, handles, targets, movable_mask, config
):  # fmt: skip
    """The differentiable part of a step, all on the device (no host sync).

    frozen: a FrozenFeatureSynthesis or None (then the generator's own blocks run); regions:
    None, or the boxes of the feature map that the tracking and losses read (frozen only); w: the
    optimised latent; references: FeatureReferences or None (then taken from this pass);
    handles, targets: [K, 2] float32 (row, col); movable_mask: [H, W] or None.
    Returns a ForwardPass; its losses' `update` is False when the reference step would leave w alone
    (done, or no loss term at all).
    """
    size = (synthesis.img_resolution, synthesis.img_resolution)
    ws = build_styles(w, w0, config)  # [1, num_ws, w_dim]
    features, image_state = forward_features(synthesis, frozen, regions, ws, config)
    losses = drag_losses(size, features, references, handles, targets, movable_mask, config)
    return ForwardPass(losses, ws, features, image_state)


def render_rest(synthesis, frozen, regions, ws, features, image_state, config):
    """uint8 [H, W, 3] image of this pass (of a batch of one)."""
    return image_to_uint8(synthesis_rest(synthesis, frozen, regions, ws, features, image_state,
                                         config))  # fmt: skip


@torch.no_grad()
def synthesis_rest(synthesis, frozen, regions, ws, features, image_state, config):
    """Images [B, 3, H, W] of this pass: the blocks after the feature block, no autograd."""
    ws = ws.detach()
    if frozen is not None:
        outputs = [output.detach() for output in image_state]
        if regions is not None:  # the feature block ran on regions only: complete it
            outputs = frozen.dense_outputs(ws, outputs, config.noise_mode)
        features = outputs[-1]
        img = frozen.image_so_far(ws, outputs)
    else:
        img = image_state.detach()
    _, img = synthesis.run_blocks(
        ws, config.feature_block + 1, None, x=features.detach(), img=img,
        noise_mode=config.noise_mode,
    )  # fmt: skip
    return img


def feature_regions(frozen, state, config):
    """Boxes of the feature map that this step reads, when computing only those pays: the CPU
    path, references already taken (not the first step), no mask (its term reads the whole
    map) and no random noise (a rendered image must see the same draw); else None (the whole
    feature block)."""
    if frozen is None or state.references is None or state.movable_mask is not None:
        return None
    if config.noise_mode == "random":
        return None
    # Tracking reads U within tracking_radius of a handle; motion supervision reads the disk
    # (motion_radius, candidates one further) around the tracked handle, shifted by up to 1.
    extent = config.tracking_radius + config.motion_radius + 3
    regions, native_area = frozen.handle_regions(state.handles, extent)
    area = sum((bottom - top) * (right - left) for top, bottom, left, right in regions)
    return regions if area <= native_area // 2 else None


# Which fast paths each generator family gets, and why: what `draggan-fast info` prints.
# (The per-session choice is made at the first step and named by `session.backend`.)
FAST_PATHS_BY_FAMILY = {
    "stylegan2": {
        "drag kernels": "yes: tracking, motion and mask read the native feature map",
        "frozen-weight feature blocks": "CPU float32 (elsewhere the blocks with "
        "fused_modconv=False)",
        "feature block on regions around the handles": "with the frozen blocks, no mask",
    },
    "stylegan_human": {
        "drag kernels": "yes, on the zero-padded square feature map",
        "frozen-weight feature blocks": "CPU float32: the blocks run on the H x H/2 "
        "rectangles, then the map is padded as run_blocks pads it",
        "feature block on regions around the handles": "with the frozen blocks, no mask "
        "(boxes in the rectangle's columns)",
    },
    "stylegan3": {
        "drag kernels": "yes, on the layer's output with its margin",
        "frozen-weight feature blocks": "no (no StyleGAN2 blocks): the generator's own layers",
        "feature block on regions around the handles": "no (it needs the frozen blocks)",
    },
}
for _family, _paths in FAST_PATHS_BY_FAMILY.items():
    _tested = "" if _family == "stylegan2" else " (not yet checked on CUDA for this family)"
    _paths["torch.compile, CUDA graph"] = f"as asked (compile=True; CUDA graph on CUDA){_tested}"


def _undo_point(state):
    """(w, the optimizer state of w) copied before a step, for `_keep_unless` (absent optimizer
    entries count as zeros, as Adam starts)."""
    optimizer_state = state.optimizer.state.get(state.w, {})
    return state.w.detach().clone(), {
        name: value.clone() for name, value in optimizer_state.items() if torch.is_tensor(value)
    }


def _pending_step(state, losses: DragLosses, undo) -> PendingStep:
    """A session's step before the optimizer, decided on the device: the optimizer always
    steps, then `_keep_unless` undoes it where the reference step would leave w alone (and
    where `state.halted`, a step after done, which also keeps the handles)."""
    tracked, done, update = losses.tracked, losses.done, losses.update
    if state.halted is not None:  # a step after done: a no-op, decided on the device
        update = update & ~state.halted
        tracked = torch.where(state.halted, state.handles, tracked)
        done = done | state.halted
    w_before, optimizer_before = undo
    return PendingStep(
        state=state, handles=tracked,
        references=FeatureReferences(losses.handle_features, losses.feature_map), done=done,
        losses={"motion": losses.loss_motion, "mask": losses.loss_mask, "total": losses.total},
        steps=True,
        after_step=lambda: _keep_unless(update, state.optimizer, state.w, w_before,
                                        optimizer_before),
    )  # fmt: skip


def _keep_unless(update, optimizer, w, w_before, state_before):
    """Undo the optimizer step where `update` is False, without reading it on the host."""
    with torch.no_grad():
        w.copy_(torch.where(update, w, w_before))
        for name, value in optimizer.state[w].items():
            if torch.is_tensor(value):
                before = state_before.get(name, torch.zeros_like(value))
                value.copy_(torch.where(update.to(value.device), value, before))


def _override(variable, value, origin):
    """(setting, where it came from): the environment variable, when set to 0 or 1, wins."""
    override = os.environ.get(variable)
    if override is None:
        return value, origin
    if override not in ("0", "1"):
        raise ValueError(f"{variable} must be 0 or 1 when set, got {override!r}")
    return override == "1", f"{variable}={override}"


@register_backend
class FastBackend(StepBackend):
    """Fused drag ops, no host sync inside a step, frozen generator weights."""

    name = "fast"

    stays_on_device = True
    batches = True
    compiles = True
    graphs = True

    def __init__(self, compile: bool = False, cuda_graph: bool | None = None):
        compile, compile_origin = _override(COMPILE_ENV_VAR, compile, "compile=True")
        graph_origin = "default" if cuda_graph is None else "cuda_graph=True"
        cuda_graph, graph_origin = _override(GRAPH_ENV_VAR, cuda_graph is not False, graph_origin)
        super().__init__(compile=compile, cuda_graph=cuda_graph)
        self._compile_origin, self._graph_origin = compile_origin, graph_origin
        self._frozen = None  # FrozenBlocks once a step ran
        self._losses = torch.compile(forward_and_losses) if compile else forward_and_losses
        self._graph = StepGraph() if cuda_graph else None

    def describe(self, device: torch.device) -> str:
        ops = "; ".join(
            f"{row['op'].split('::')[1]}: {row['implementation']} ({row['reason']})"
            for row in describe_dispatch(device)
        )
        compiled = f", torch.compile ({self._compile_origin})" if self.compile else ""
        graph = ""
        if self._graph is not None and (device.type == "cuda" or self._graph_origin != "default"):
            graph = f", CUDA graph ({self._graph_origin}; last step: {self._graph.status})"
        known = self._frozen is not None and self._frozen.device == device  # a step ran there
        blocks = f"; feature blocks: {self._frozen.reason}" if known else ""
        return f"fast on {device}{compiled}{graph}: {ops}{blocks}"

    def make_optimizer(self, w: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        """Adam as officially; on CUDA `capturable`, so its step count stays on the device."""
        return torch.optim.Adam([w], lr=lr, capturable=w.is_cuda)

    def _frozen_blocks(self, synthesis, device, feature_block):
        """The CPU's frozen-weight blocks for this generator (None elsewhere), made again when
        its weights changed: replaced, or edited in place (their version counters move)."""
        weights = tuple(
            (tensor.data_ptr(), tensor._version)
            for block in synthesis.blocks[: feature_block + 1]
            for tensor in (*block.parameters(), *block.buffers())
        )
        key = (synthesis, device, weights)
        if self._frozen is None or self._frozen.key != key:
            applies, reason = FrozenFeatureSynthesis.applies(synthesis, feature_block, device)
            frozen = FrozenFeatureSynthesis(synthesis, feature_block) if applies else None
            self._frozen = FrozenBlocks(key, device, frozen, reason)
        return self._frozen.synthesis

    def _device_step(self, state: DragState) -> DeviceStep:
        """Forward, backward, Adam and the keep-or-undo: all on the device, no host sync (what
        a CUDA graph records)."""
        config = state.config
        synthesis = state.generator.synthesis
        frozen = self._frozen.synthesis  # made or refreshed by step(), which calls this
        regions = None
        if not self.compile:  # compiled, every new box size would compile again
            regions = feature_regions(frozen, state, config)
        undo = _undo_point(state)
        forward = self._losses(
            synthesis, frozen, regions, state.w, state.w0, state.references, state.handles,
            state.targets, state.movable_mask, config,
        )  # fmt: skip
        pending = _pending_step(state, forward.losses, undo)
        optimise([pending])
        return DeviceStep(
            pending.handles, pending.done, pending.output(None).losses, pending.references,
            forward.ws, forward.features, (regions, forward.image_state),
        )  # fmt: skip

    def batch_note(self, device: torch.device) -> str:
        return (
            "fast: the generator's own blocks (fused_modconv=False) on the stacked w's, the "
            "fused drag ops per session; eager (no CUDA graph, no torch.compile, no CPU frozen "
            "blocks: those premodulate each session's own w0 rows)"
        )

    def step_batch(self, states: list[DragState], renders: list[bool]) -> list[StepOutput]:
        config = states[0].config  # feature_block and noise_mode: the same for the batch
        synthesis = states[0].generator.synthesis
        states[0].generator.requires_grad_(False)  # frozen: only the w's get gradients
        size = (synthesis.img_resolution, synthesis.img_resolution)
        undo_points = [_undo_point(state) for state in states]
        ws = torch.cat([build_styles(state.w, state.w0, state.config) for state in states])
        features, image_state = forward_features(synthesis, None, None, ws, config)  # [B, ...]
        pendings = []
        for index, (state, undo) in enumerate(zip(states, undo_points)):
            losses = drag_losses(
                size, features[index : index + 1], state.references, state.handles,
                state.targets, state.movable_mask, state.config,
            )  # fmt: skip
            pendings.append(_pending_step(state, losses, undo))
        optimise(pendings)
        images = [None] * len(states)
        rendered = [index for index, render in enumerate(renders) if render]
        if rendered:
            with record_function("draggan/synthesis_rest"):
                img = synthesis_rest(
                    synthesis, None, None, ws[rendered], features[rendered],
                    image_state[rendered], config,
                )  # fmt: skip  # [R, 3, H, W]
            for row, index in enumerate(rendered):
                images[index] = image_to_uint8(img[row : row + 1])
        return [pending.output(image) for pending, image in zip(pendings, images)]

    def step(self, state: DragState, render: bool) -> StepOutput:
        config = state.config
        synthesis = state.generator.synthesis
        state.generator.requires_grad_(False)  # frozen: only w gets a gradient
        frozen = self._frozen_blocks(synthesis, state.w.device, config.feature_block)
        if frozen is not None:
            frozen.fix_rows(state.w0, config.n_optimized_layers)
        if self._graph is not None:
            result = self._graph.run(self._device_step, state)
        else:
            result = self._device_step(state)
        image = None
        if render:
            regions, image_state = result.image_state
            with record_function("draggan/synthesis_rest"):
                image = render_rest(
                    synthesis, frozen, regions, result.ws, result.features, image_state, config
                )
        return StepOutput(
            handles=result.tracked,
            references=result.references,
            done=result.done,
            losses=result.losses,
            image=image,
        )
