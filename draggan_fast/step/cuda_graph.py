"""The fast backend's device step replayed as a CUDA graph.

A fast step launches a few hundred small kernels (the feature blocks forward and backward, the
drag ops, Adam, the keep-or-undo of `_keep_unless`), none of which waits for the host: on a GPU
the step is bound by launching them. `StepGraph` records the step once with
`torch.cuda.graph` and replays it, so a step costs one launch.

What a recorded graph depends on (`GraphKey`): the tensors it reads in place (w, w0, the Adam
state, the feature references, the movable mask, the generator's weights and buffers, by
identity and storage), the number of handles, whether the step can be halted, the step settings
and Adam's settings (lr is baked into the graph). Handles, targets and the halted flag change
every step and are copied into the graph's own input buffers before each replay. A new key
drops the old graph; a key is recorded after `WARMUP_STEPS` eager steps with it (on a side
stream, as torch.cuda.graph asks: lazy initialisation, Adam's state, torch.compile and the ops'
self-checks happen there, not inside the capture).

The first step of a drag (no references yet), CPU steps and steps after a failed capture run
eagerly; `describe()` says which and why. A capture that fails warns once, with the reason, and
the session goes on eagerly.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import torch

from draggan_fast.step.backend import DragState, FeatureReferences

GRAPH_ENV_VAR = "DRAGGAN_FAST_CUDA_GRAPH"
WARMUP_STEPS = 2  # eager steps with a key before it is recorded


class DeviceStep(NamedTuple):
    """What the device part of a fast step leaves behind."""

    tracked: torch.Tensor  # [K, 2] float32 (row, col)
    done: torch.Tensor  # bool scalar
    losses: dict  # "motion", "mask", "total": scalars
    references: FeatureReferences  # those in force (taken by this step when it had none)
    ws: torch.Tensor  # [1, num_ws, w_dim]: for render_rest
    features: torch.Tensor  # [1, C, h, w]: for render_rest
    image_state: tuple  # (feature regions or None, the pass's state): for render_rest


def _module_tensors(module):
    return [*module.parameters(), *module.buffers()]


class GraphKey:
    """Everything a recorded step reads in place or bakes in (see the module docstring)."""

    def __init__(self, state: DragState):
        references = state.references
        optimizer_state = state.optimizer.state.get(state.w, {})
        tensors = [
            state.w, state.w0, references.handle_features, references.feature_map,
            *(value for value in optimizer_state.values() if torch.is_tensor(value)),
            *_module_tensors(state.generator.synthesis),
        ]  # fmt: skip
        if state.movable_mask is not None:
            tensors.append(state.movable_mask)
        self.tensors = tensors  # strong references: identities stay valid while compared
        self.storages = [tensor.data_ptr() for tensor in tensors]
        adam_settings = [
            {name: value for name, value in group.items() if name != "params"}
            for group in state.optimizer.param_groups
        ]
        self.values = (
            dataclasses.astuple(state.config), adam_settings,
            tuple(state.handles.shape), tuple(state.targets.shape),
            state.movable_mask is None, state.halted is None, sorted(optimizer_state),
        )  # fmt: skip

    def matches(self, other: GraphKey) -> bool:
        return (
            self.values == other.values
            and len(self.tensors) == len(other.tensors)
            and all(a is b for a, b in zip(self.tensors, other.tensors))
            and self.storages == other.storages
        )


class StepGraph:
    """Runs a device step (a function DragState -> DeviceStep) eagerly or as a CUDA graph."""

    def __init__(self):
        self._key = None  # GraphKey of the graph being prepared or replayed
        self._eager_steps = 0  # eager steps run with self._key
        self._graph = None  # torch.cuda.CUDAGraph once recorded
        self._inputs = None  # DragState whose handles, targets, halted are the graph's inputs
        self._outputs = None  # DeviceStep of the recorded step (the graph's own buffers)
        self._failure = None  # why capture failed: then every step stays eager
        self.status = "no step yet"

    def run(self, device_step, state: DragState) -> DeviceStep:
        """One step; its tracked, done and losses are the caller's (copied out of the graph),
        ws, features and image_state are valid until the next step."""
        reason = self._why_eager(state)
        if reason is not None:
            self.status = f"eager ({reason})"
            return device_step(state)
        key = GraphKey(state)
        if self._key is None or not key.matches(self._key):
            self._key, self._eager_steps = key, 0
            self._graph = self._inputs = self._outputs = None  # frees the old graph's memory
        if self._graph is None and self._eager_steps < WARMUP_STEPS:
            self._eager_steps += 1
            self.status = f"eager (warm-up {self._eager_steps} of {WARMUP_STEPS} before capture)"
            return self._warm_up(device_step, state)
        if self._graph is None and not self._capture(device_step, state):
            return device_step(state)
        with torch.no_grad():
            self._inputs.handles.copy_(state.handles)
            self._inputs.targets.copy_(state.targets)
            if state.halted is not None:
                self._inputs.halted.copy_(state.halted)
        self._graph.replay()
        self.status = "CUDA graph (replayed)"
        outputs = self._outputs
        return outputs._replace(
            tracked=outputs.tracked.clone(),
            done=outputs.done.clone(),
            losses={name: value.clone() for name, value in outputs.losses.items()},
        )

    def _why_eager(self, state):
        if self._failure is not None:
            return self._failure
        if not state.w.is_cuda:
            return f"CUDA graphs need a CUDA device, not {state.w.device.type}"
        if state.references is None:
            return "the first step of a drag takes the feature references"
        return None

    @staticmethod
    def _warm_up(device_step, state):
        side = torch.cuda.Stream(state.w.device)
        side.wait_stream(torch.cuda.current_stream(state.w.device))
        with torch.cuda.stream(side):
            outputs = device_step(state)
        torch.cuda.current_stream(state.w.device).wait_stream(side)
        return outputs

    def _capture(self, device_step, state) -> bool:
        """Record the step for self._key; False (with one warning) if it cannot be."""
        inputs = dataclasses.replace(
            state,
            handles=state.handles.clone(),
            targets=state.targets.clone(),
            halted=None if state.halted is None else state.halted.clone(),
        )
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                outputs = device_step(inputs)
        except Exception as exc:  # any failure: stay eager, say why once
            state.w.grad = None  # the failed capture's gradient buffer is not w's
            self._failure = f"capture failed: {type(exc).__name__}: {exc}"
            self._key = self._graph = self._inputs = self._outputs = None
            self.status = f"eager ({self._failure})"
            warnings.warn(
                f"draggan-fast: the fast step cannot be replayed as a CUDA graph, running it "
                f"eagerly ({self._failure})",
                RuntimeWarning,
                stacklevel=4,
            )
            return False
        self._graph, self._inputs, self._outputs = graph, inputs, outputs
        return True
