"""The seam between a `DragSession` and the code that runs one drag step: a backend.

A session owns the state of a drag (start latent, optimised latent, optimizer, handles, targets,
movable mask, feature references) and hands it to its backend once per step as a `DragState`;
the backend runs one DragGAN step on it and answers with a `StepOutput`. Backends never see the
session's history, validation or file format, and the session never sees a kernel.

Coordinates in this layer are (row, col) pixels, as the official code uses them (the public API
in `draggan_fast.session` speaks (x, y) and converts).

Backends register under a name; `create_backend(name)` imports a backend's module on first use,
so `backend="reference"` never imports Triton. A backend reads the step settings from each
DragState (`state.config`), so changing them between steps keeps the backend and its caches.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.profiler import record_function

# Backend name -> module that defines and registers it (imported on first use).
BACKEND_MODULES = {
    "reference": "draggan_fast.step.reference",
    "fast": "draggan_fast.step.fast",
}
_REGISTRY: dict[str, type[StepBackend]] = {}


@dataclass(frozen=True)
class DragConfig:
    """Step hyperparameters, already resolved to pixels of the generator's image."""

    latent_space: str  # "w": one w broadcast to the optimised layers; "w+": one w per layer
    n_optimized_layers: int  # style vectors [0, n) come from w, the rest stay at w0
    feature_block: int  # index into G.synthesis.blocks whose output is the feature map
    motion_radius: int  # px: round(r1 * H / 512), the disk of motion supervision
    tracking_radius: int  # px: round(r2 * H / 512), the half-size of the tracking window
    lambda_mask: float  # weight of the mask term
    tracking: str  # "l2" or "l1": distance to the reference feature in point tracking
    stop_distance: float  # px: done when every handle is at most this far from its target
    noise_mode: str  # "const", "random" or "none", as in G.synthesis


@dataclass
class FeatureReferences:
    """What a drag compares against, taken from one forward pass when the drag starts."""

    handle_features: torch.Tensor  # [K, C]: f_i, the upsampled map at each rounded handle
    feature_map: torch.Tensor  # [1, C, h, w]: F0 at the feature block's own size, detached


@dataclass
class DragState:
    """Everything a backend may read; it may update `w` (through `optimizer`) in place."""

    generator: torch.nn.Module
    w0: torch.Tensor  # [1, num_ws, w_dim]: the start latent, never changes
    w: torch.Tensor  # leaf being optimised: [1, num_ws, w_dim] ("w+") or [1, w_dim] ("w")
    optimizer: torch.optim.Optimizer  # over [w]
    handles: torch.Tensor  # [K, 2] float32 (row, col) on the device, before this step's tracking
    targets: torch.Tensor  # [K, 2] float32 (row, col) on the device
    movable_mask: torch.Tensor | None  # [H, W] float32 on the device, 1 = may change; or None
    references: FeatureReferences | None  # None: take them from this step's forward pass
    config: DragConfig
    # bool scalar on the device, or None. True: this step must leave w, the optimizer state and
    # the handles as they are (a step queued after the run reached done, see
    # DragSession.run); only backends with `stays_on_device` get one.
    halted: torch.Tensor | None = None

    def styles(self) -> torch.Tensor:
        """ws [1, num_ws, w_dim] = cat(w[:, :n], w0[:, n:]), differentiable in w."""
        return build_styles(self.w, self.w0, self.config)


@dataclass
class StepOutput:
    """What one step produced. Tensors may stay on the device; the session reads them once."""

    handles: torch.Tensor  # [K, 2] float32 (row, col): found by this step's tracking
    references: FeatureReferences  # those in force (newly taken when state had none)
    done: torch.Tensor  # bool scalar: every handle within stop_distance; then w was not updated
    losses: dict[str, torch.Tensor]  # scalars "motion", "mask", "total" of this forward pass
    image: torch.Tensor | None  # uint8 [H, W, 3] of this step's forward pass when asked, or None


@dataclass
class PendingStep:
    """One session's step after its forward pass, tracking and losses, before the optimizer: the
    part of a step that is the same whether the forward pass ran alone or in a batch."""

    state: DragState
    handles: torch.Tensor  # [K, 2] float32 (row, col): found by this step's tracking
    references: FeatureReferences  # those in force
    done: torch.Tensor  # bool scalar
    losses: dict[str, torch.Tensor]  # scalars "motion", "mask", "total" (total: with grad)
    steps: bool  # run zero_grad, backward and the optimizer step (a host decision)
    after_step: Callable[[], None] | None = None  # run after the optimizer step (fast: undo)

    def output(self, image: torch.Tensor | None) -> StepOutput:
        losses = {name: value.detach() for name, value in self.losses.items()}
        return StepOutput(self.handles, self.references, self.done, losses, image)


def optimise(pendings: list[PendingStep]) -> None:
    """The update of one or several sessions' steps: each stepping session's gradient zeroed, one
    backward of the sum of their total losses (each w gets exactly its own gradient: no sample of
    the synthesis reads another), then each optimizer's step."""
    stepping = [pending for pending in pendings if pending.steps]
    with record_function("draggan/backward"):
        for pending in stepping:
            pending.state.optimizer.zero_grad()
        # A total without grad (no term at all) gives no gradient, so Adam skips its w.
        with_grad = [pending for pending in stepping if pending.losses["total"].requires_grad]
        if with_grad:
            torch.autograd.backward(
                [pending.losses["total"] for pending in with_grad],
                inputs=[pending.state.w for pending in with_grad],
            )
    with record_function("draggan/optimizer"):
        for pending in stepping:
            pending.state.optimizer.step()
            if pending.after_step is not None:
                pending.after_step()


def build_styles(w: torch.Tensor, w0: torch.Tensor, config: DragConfig) -> torch.Tensor:
    """The official ws builder: optimised rows first, w0 for the rest. -> [1, num_ws, w_dim]."""
    n = config.n_optimized_layers
    if config.latent_space == "w":
        head = w.unsqueeze(1).repeat(1, n, 1)  # [1, n, w_dim]
    else:
        head = w[:, :n]  # [1, n, w_dim]
    return torch.cat([head, w0[:, n:]], dim=1)


def image_to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Synthesis output [1, 3, H, W] in about [-1, 1] -> uint8 [H, W, 3], as officially."""
    return (img[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


class StepBackend(abc.ABC):
    """One implementation of the DragGAN step. Subclasses set `name` and implement `step`.

    `stays_on_device`: the step never reads the device from the host (its StepOutput stays
    there, and it honours DragState.halted), so the session may defer reading results.
    `compiles`: `compile=True` has a meaning (the step runs through torch.compile).
    `graphs`: `cuda_graph=True` has a meaning (on CUDA the step is replayed as a CUDA graph);
    `cuda_graph=None` takes the backend's default.
    """

    name: ClassVar[str]
    stays_on_device: ClassVar[bool] = False
    batches: ClassVar[bool] = False  # step_batch runs several sessions in one forward pass
    compiles: ClassVar[bool] = False
    graphs: ClassVar[bool] = False

    def __init__(self, compile: bool = False, cuda_graph: bool | None = None):
        cuda_graph = bool(cuda_graph)
        if compile and not self.compiles:
            raise ValueError(
                f"compile=True: the {self.name!r} backend has no compiled step "
                "(the 'fast' backend has one)"
            )
        if cuda_graph and not self.graphs:
            raise ValueError(
                f"cuda_graph=True: the {self.name!r} backend has no CUDA-graph step "
                "(the 'fast' backend has one)"
            )
        self.compile = compile
        self.cuda_graph = cuda_graph

    @abc.abstractmethod
    def step(self, state: DragState, render: bool) -> StepOutput:
        """Track the handles, apply motion supervision (+ mask term) and, unless done, one
        optimizer step on `state.w`. `image` is the uint8 image of this step's forward pass
        (before the update) when `render`, else None."""

    def step_batch(self, states: list[DragState], renders: list[bool]) -> list[StepOutput]:
        """One step of each state (sessions on the same generator, feature block and noise mode):
        their styles stacked into one forward pass, then each state's own tracking and losses,
        one backward of the sum and each optimizer's step (`optimise`). Results equal stepping
        each alone within float tolerance (the batched convolutions sum in another order)."""
        raise NotImplementedError(f"the {self.name!r} backend does not step sessions in batches")

    def batch_note(self, device: torch.device) -> str:
        """One line: what a batch of this backend's sessions runs on `device`."""
        return f"{self.name}: one forward pass for the batch"

    def make_optimizer(self, w: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        """The optimizer over w (official: Adam with default betas and eps)."""
        return torch.optim.Adam([w], lr=lr)

    @torch.no_grad()
    def render(self, state: DragState) -> torch.Tensor:
        """uint8 [H, W, 3] image of the current w."""
        img = state.generator.synthesis(state.styles(), noise_mode=state.config.noise_mode)
        return image_to_uint8(img)

    def describe(self, device: torch.device) -> str:
        """One line: which implementation runs on `device` (the session's) and why (fast paths
        say what they chose)."""
        return self.name


def register_backend(cls: type[StepBackend]) -> type[StepBackend]:
    """Class decorator: make `cls` available as `backend=cls.name`."""
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(set(BACKEND_MODULES) | set(_REGISTRY))


def create_backend(name: str, compile: bool = False, cuda_graph: bool | None = None) -> StepBackend:
    """A new backend instance by name (compile: its step through torch.compile; cuda_graph: its
    step replayed as a CUDA graph on CUDA, None: the backend's default); clear errors for
    unknown or unavailable ones."""
    if name not in _REGISTRY:
        module = BACKEND_MODULES.get(name)
        if module is None:
            raise ValueError(f"unknown backend {name!r}; available: {', '.join(backend_names())}")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"backend {name!r} is not available: {exc}") from exc
        if name not in _REGISTRY:
            raise ValueError(f"backend {name!r}: module {module} did not register it")
    return _REGISTRY[name](compile=compile, cuda_graph=cuda_graph)
