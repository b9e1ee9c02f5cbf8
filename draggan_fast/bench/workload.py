"""The drag a benchmark runs: a DragSession with handles, targets and an optional mask.

Handles sit on a circle around the image centre and their targets lie well beyond reach of the
measured steps, so every measured step tracks, back-propagates and updates w (a step whose
handles all arrived would skip the update and time something else).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

HANDLE_CIRCLE_RADIUS = 0.2  # of the image size: where the handles start, around the centre
TARGET_OFFSET = 0.25  # of the image size: how far each target lies from its handle
MOVABLE_FRACTION = 0.5  # side of the centred movable square, as a fraction of the image


@dataclass(frozen=True)
class DragWorkload:
    """What to drag: the number of handles, whether a mask applies, how often to render."""

    handles: int = 1
    mask: bool = False
    render_every: int = 1  # render an image every N steps; 0: never
    seed: int = 0

    def __post_init__(self):
        if self.handles < 1:
            raise ValueError(f"--handles must be at least 1, got {self.handles}")
        if self.render_every < 0:
            raise ValueError(f"--render-every must be 0 (never) or more, got {self.render_every}")

    def renders(self, step_index: int) -> bool:
        """Whether step `step_index` (0-based, warm-up included) asks for an image."""
        return self.render_every > 0 and step_index % self.render_every == 0


def handle_target_pairs(handles: int, resolution: int) -> list[tuple[tuple, tuple]]:
    """K ((x, y) handle, (x, y) target) pairs in pixels, all inside the image.

    Handle k sits at angle 2*pi*k/K on a circle around the centre; its target lies further out
    along the same ray (clipped to the image), so targets never coincide.
    """
    center = (resolution - 1) / 2.0
    pairs = []
    for index in range(handles):
        angle = 2.0 * math.pi * index / handles
        direction = (math.cos(angle), math.sin(angle))
        handle = tuple(center + HANDLE_CIRCLE_RADIUS * resolution * c for c in direction)
        reach = (HANDLE_CIRCLE_RADIUS + TARGET_OFFSET) * resolution
        target = tuple(min(max(center + reach * c, 0.0), resolution - 1.0) for c in direction)
        pairs.append((handle, target))
    return pairs


def movable_mask(resolution: int) -> np.ndarray:
    """bool [H, W]: True in a centred square covering MOVABLE_FRACTION of each side."""
    mask = np.zeros((resolution, resolution), dtype=bool)
    margin = round(resolution * (1.0 - MOVABLE_FRACTION) / 2.0)
    mask[margin : resolution - margin, margin : resolution - margin] = True
    return mask


def compile_method(backend: str) -> str:
    """How `--compile` compiles `backend`'s step: the fast backend's own option
    (`DragSession(compile=True)`); for the others each synthesis block of the generator goes
    through `torch.compile` (nn.Module.compile, in place), the part of their step that dominates.
    """
    if backend == "fast":
        return "DragSession(compile=True)"
    return "torch.compile of each synthesis block (nn.Module.compile)"


def make_session(
    generator, workload: DragWorkload, backend: str, device, compile_step: bool, cuda_graph=None
):
    """A DragSession on `device` with the workload's points and mask, ready to step
    (cuda_graph: DragSession's, None: its default, a CUDA graph for the fast backend on CUDA)."""
    from draggan_fast import DragSession

    options = {"seed": workload.seed, "backend": backend, "device": torch.device(device)}
    if cuda_graph is not None:
        options["cuda_graph"] = cuda_graph
    if compile_step and backend == "fast":
        options["compile"] = True
    elif compile_step:
        for block in generator.synthesis.blocks:
            block.compile()
    session = DragSession(generator, **options)
    for handle, target in handle_target_pairs(workload.handles, generator.img_resolution):
        session.add_point(handle=handle, target=target)
    if workload.mask:
        session.set_mask(movable_mask(generator.img_resolution))
    return session
