"""Steps of several drags on one device in one forward and backward pass.

At batch 1 a GPU drag step is launch-bound: most of the card idles. Drags that share a generator,
a device, a backend, a feature block and a noise mode can run their feature blocks as one batch:
their ws stacked [B, num_ws, w_dim] (each built from its own w and w0, whatever its latent space
and optimised layers), each then tracking its own handles and computing its own losses on its
row of the feature map, one backward of the sum of the losses (the synthesis has no op across
samples, so each w gets exactly its own gradient) and each optimizer's own step
(`StepBackend.step_batch`, which `step_group` calls). Everything else (radii, lambda, tracking,
stop distance, lr, points, mask, references) may differ between the drags of a batch.

This module groups DragStates (`batch_key`, `group_indices`) and steps a group; the sessions'
side (points checked, undo history, results) is draggan_fast/session/batch.py.
"""

from __future__ import annotations

from draggan_fast.step.backend import DragState, StepBackend, StepOutput


def batch_key(backend: StepBackend, state: DragState) -> tuple | None:
    """What drags must share to be stepped together, or None when this one steps alone."""
    if not backend.batches:
        return None
    config = state.config
    return (
        type(backend), id(state.generator), state.w.device, config.feature_block,
        config.noise_mode,
    )  # fmt: skip


def why_alone(backend: StepBackend) -> str | None:
    """Why a drag on `backend` never joins a batch (None: it may)."""
    if backend.batches:
        return None
    return f"the {backend.name!r} backend has no batched step: its sessions step one by one"


def group_indices(keys: list, max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped by equal key (None: alone), first appearance first, each group cut into
    runs of at most max_batch (None: no bound)."""
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    groups: dict = {}
    for index, key in enumerate(keys):
        groups.setdefault(("alone", index) if key is None else ("key", key), []).append(index)
    limit = max_batch or len(keys) or 1
    return [
        members[start : start + limit]
        for members in groups.values()
        for start in range(0, len(members), limit)
    ]


def step_group(
    backends: list[StepBackend], states: list[DragState], renders: list[bool]
) -> list[StepOutput]:
    """One step of each state of a group (equal `batch_key`s): a batch of one steps on its own
    backend's ordinary path (CUDA graph, torch.compile, CPU frozen blocks where it has them),
    larger ones through the first backend's `step_batch`."""
    if len(states) == 1:
        return [backends[0].step(states[0], renders[0])]
    return backends[0].step_batch(states, renders)


def _output_elements(block, image_resolution) -> int:
    """Elements of one sample's output of a synthesis block (StyleGAN2) or layer (StyleGAN3)."""
    channels = getattr(getattr(block, "conv1", block), "out_channels", 512)
    size = getattr(block, "resolution", None)
    if size is None:
        out_size = getattr(block, "out_size", None)
        size = int(max(out_size)) if out_size is not None else image_resolution
    return int(channels) * int(size) * int(size)


def estimated_step_bytes(generator, feature_block: int) -> int:
    """A rough upper estimate of the memory one more drag in a batch costs during a step: the
    float32 activations of the blocks up to the feature block, kept for the backward, and their
    gradients, plus the image of the rest (for the scheduler's per-device memory budget)."""
    synthesis = generator.synthesis
    total = 0
    for index, block in enumerate(synthesis.blocks):
        per_output = _output_elements(block, synthesis.img_resolution) * 4  # float32 bytes
        # the layers' outputs, their pre-activations and the gradients of both (x2 margin)
        total += per_output * (8 if index <= feature_block else 2)
    return total
