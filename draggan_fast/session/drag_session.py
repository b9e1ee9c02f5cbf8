"""`DragSession`: an interactive DragGAN drag on one generator, independent of how a step runs.

The session holds the state (start latent w0, optimised w, Adam, handles, targets, movable mask,
feature references, history) and validates everything users pass; a backend from
`draggan_fast.step.backend` runs each step. Public coordinates are (x, y) image pixels; the
state keeps (row, col) tensors on the device, as the backends use them.

With a backend that `stays_on_device` (fast), `step()` returns a StepResult read from the device
only when looked at, and `run()` without a callback reads the device only every
`runs.done_check_interval` steps, so the host keeps queueing steps instead of waiting for each.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from torch.profiler import record_function

from draggan_fast.session import inputs, runs, saved_session
from draggan_fast.session import state as state_checks
from draggan_fast.step.backend import DragState, create_backend
from draggan_fast.step.result import StepResult

MAX_HISTORY = 100
MAX_STEPS = 10**9


class DragSession:
    """A drag on generator G: add points, optionally a mask, then `step()` or `run()`.

    Defaults follow the official DragGAN GUI: W+ with the first 6 style vectors optimised,
    feature block 5. lr, r1, r2 (512-px units) and lambda_mask left None take the model's
    recommended settings (its file's metadata, `G.drag_settings`), else the official ones (lr
    1e-3, r1 3, r2 12, lambda_mask 20); `settings_source` says which apply ("given", "model",
    "official") and `describe_settings()` says it in one line.
    The start latent comes from `seed` (with truncation) unless `w` gives it: [w_dim],
    [num_ws, w_dim] or [1, num_ws, w_dim], or the path of a saved session (its current w).
    `device` moves G there (default: where G's parameters are). Feature references are taken
    by the first step after points were added or removed (or after `reset()`), from that step's
    forward pass, and kept across runs and target moves, as in the official renderer.
    `compile=True` runs the fast backend's step through torch.compile (the environment variable
    DRAGGAN_FAST_COMPILE=0/1 overrides it). On CUDA the fast backend replays its step as a CUDA
    graph from the fourth step of a drag on (measured: benches/RESULTS.md, "H200: drag step,
    CUDA graph, compiled ops, Triton kernels");
    `cuda_graph=False` (or DRAGGAN_FAST_CUDA_GRAPH=0) keeps every step eager, and `backend`
    says whether the last step replayed and why not. None: the backend's default.
    """

    def __init__(
        self, G, *, seed=0, w=None, truncation_psi=0.7, truncation_cutoff=None,
        latent_space="w+", n_optimized_layers=6, lr=None, r1=None, r2=None, lambda_mask=None,
        feature_block=None, tracking="l2", stop_distance=None, noise_mode="const",
        backend="reference", device=None, compile=False, cuda_graph=None,
    ):  # fmt: skip
        self.hyperparameters, self.config, self.settings_source = inputs.session_settings(
            G, seed=seed, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
            latent_space=latent_space, n_optimized_layers=n_optimized_layers, lr=lr, r1=r1,
            r2=r2, lambda_mask=lambda_mask, feature_block=feature_block, tracking=tracking,
            stop_distance=stop_distance, noise_mode=noise_mode, backend=backend,
            compile=compile, cuda_graph=cuda_graph,
        )  # fmt: skip
        hp = self.hyperparameters
        self._backend = create_backend(backend, compile=hp["compile"], cuda_graph=cuda_graph)
        self.device = torch.device(device) if device is not None else G.mapping.w_avg.device
        self.generator = G.to(self.device)
        self.image_size = (G.img_resolution, G.img_resolution)  # (height, width)
        if isinstance(w, (str, os.PathLike)):  # a saved session: start from where it got to
            w = DragSession.load(w, G, device=self.device).w
        elif w is None:
            w = inputs.seed_latent(
                G, hp["seed"], hp["truncation_psi"], hp["truncation_cutoff"], self.device
            )
        self._w0 = inputs.start_latent(w, G.num_ws, G.w_dim, self.device)  # [1, num_ws, w_dim]
        self._handles = torch.zeros([0, 2], device=self.device)  # [K, 2] (row, col)
        self._targets = torch.zeros([0, 2], device=self.device)  # [K, 2] (row, col)
        self._start_handles = torch.zeros([0, 2], device=self.device)  # as placed, for reset()
        self._movable_mask = None  # float32 [H, W] or None
        self._history = []
        self._restart()

    # ----------------------------------------------------------------- state

    def _restart(self):
        """w back to w0 with a fresh optimizer; references are retaken by the next step."""
        if self.config.latent_space == "w":
            w = self._w0[:, 0].clone()  # [1, w_dim]
        else:
            w = self._w0.clone()  # [1, num_ws, w_dim]
        self._w = w.requires_grad_(True)
        self._optimizer = self._backend.make_optimizer(self._w, self.hyperparameters["lr"])
        self._references = None
        self._step_count = 0
        self._stroke_open = False

    def _state(self, halted=None) -> DragState:
        return DragState(
            generator=self.generator, w0=self._w0, w=self._w, optimizer=self._optimizer,
            handles=self._handles, targets=self._targets, movable_mask=self._movable_mask,
            references=self._references, config=self.config, halted=halted,
        )  # fmt: skip

    def _snapshot(self) -> dict:
        return {
            "w": self._w.detach().clone(),
            "optimizer": copy.deepcopy(self._optimizer.state_dict()),
            "handles": self._handles.clone(), "targets": self._targets.clone(),
            "start_handles": self._start_handles.clone(),
            "references": self._references, "step": self._step_count,
        }  # fmt: skip

    def _points_changed(self):
        """Handles added or removed: the next step takes new references, as officially."""
        self._references = None
        self._stroke_open = False

    @property
    def backend(self) -> str:
        """Which implementation runs the steps, and why."""
        return self._backend.describe(self.device)

    @property
    def w(self) -> np.ndarray:
        """float32 [num_ws, w_dim]: the optimised layers followed by the fixed rest."""
        return self._state().styles()[0].detach().cpu().numpy().copy()

    @property
    def w0(self) -> np.ndarray:
        """float32 [num_ws, w_dim]: the start latent."""
        return self._w0[0].cpu().numpy().copy()

    @property
    def handles(self) -> np.ndarray:
        """float32 [K, 2] (x, y): the current handle positions."""
        return inputs.rc_to_xy(self._handles)

    @property
    def targets(self) -> np.ndarray:
        """float32 [K, 2] (x, y)."""
        return inputs.rc_to_xy(self._targets)

    @property
    def movable_mask(self) -> np.ndarray | None:
        """float32 [H, W], 1 where the image may change; None when no mask is set."""
        return None if self._movable_mask is None else self._movable_mask.cpu().numpy().copy()

    @property
    def step_count(self) -> int:
        return self._step_count

    # ---------------------------------------------------------------- points

    def _rc(self, name, point) -> torch.Tensor:
        return inputs.point_rc(name, point, self.image_size, self.device)  # [1, 2] (row, col)

    def _check_point_index(self, index) -> int:
        return inputs.check_point_index(index, len(self._handles))

    def add_point(self, handle, target) -> int:
        """Add a handle (x, y) to drag to target (x, y); returns the point's index."""
        handle_rc, target_rc = self._rc("handle", handle), self._rc("target", target)
        self._handles = torch.cat([self._handles, handle_rc])
        self._start_handles = torch.cat([self._start_handles, handle_rc])
        self._targets = torch.cat([self._targets, target_rc])
        self._points_changed()
        return len(self._handles) - 1

    def set_handle(self, index, handle):
        """Move point `index`'s handle to (x, y) (also its start for `reset()`); like adding or
        removing points, this makes the next step take new references."""
        index = self._check_point_index(index)
        handle_rc = self._rc("handle", handle)[0]
        self._handles, self._start_handles = self._handles.clone(), self._start_handles.clone()
        self._handles[index] = self._start_handles[index] = handle_rc
        self._points_changed()

    def set_target(self, index, target):
        """Move point `index`'s target to (x, y); the references stay."""
        index = self._check_point_index(index)
        self._targets = self._targets.clone()
        self._targets[index] = self._rc("target", target)[0]
        self._stroke_open = False

    def remove_point(self, index):
        """Remove point `index`; later points move down one index."""
        index = self._check_point_index(index)
        keep = [i for i in range(len(self._handles)) if i != index]
        self._handles = self._handles[keep]
        self._start_handles = self._start_handles[keep]
        self._targets = self._targets[keep]
        self._points_changed()

    def clear_points(self):
        self._handles, self._targets = self._handles[:0], self._targets[:0]
        self._start_handles = self._start_handles[:0]
        self._points_changed()

    def set_mask(self, mask):
        """[H, W] bool/int/float array or PIL image: true where the image may change."""
        self._movable_mask = inputs.movable_mask_tensor(mask, self.image_size, self.device)
        self._stroke_open = False

    def clear_mask(self):
        self._movable_mask = None
        self._stroke_open = False

    def configure(self, **changes):
        """Change step settings between steps, keeping w, points, mask, references and the
        optimizer moments: any of lr, r1, r2, lambda_mask, tracking, stop_distance, noise_mode.
        (The latent space, optimised layers, feature block, backend, compile and cuda_graph are
        fixed per session.)
        """
        self.hyperparameters, self.config = inputs.reconfigure(
            self.generator, self.hyperparameters, changes
        )
        for group in self._optimizer.param_groups:
            group["lr"] = self.hyperparameters["lr"]
        self.settings_source.update({k: inputs.GIVEN for k in changes if k in self.settings_source})
        self._stroke_open = False

    def describe_settings(self) -> str:
        """ "lr 0.005 (model), lambda_mask 1 (model), r1 3 (model), r2 12 (given)": the drag
        settings in use and where each came from (see `settings_source`)."""
        return inputs.describe_settings(self.hyperparameters, self.settings_source)

    # ----------------------------------------------------------------- steps

    def step(self, render=False) -> StepResult:
        """One drag step: track the handles, then (unless done) one optimizer step on w.

        With a backend that stays on the device (fast) the result is read from the device when
        first looked at; the reference backend's is read now."""
        result, _ = self._launch_step(bool(render))
        if not self._backend.stays_on_device:
            result.materialize()
        return result

    def _launch_step(self, render, halted=None):
        """Run one step; -> (deferred StepResult, the step's done flag on the device).
        halted: bool scalar on the device (backends that stay on the device only), see run()."""
        state = self._begin_step(halted)
        # A step differentiates w: it must also under a caller's no_grad or inference_mode,
        # where it would otherwise leave w unchanged without a word.
        with torch.inference_mode(False), torch.enable_grad():
            output = self._backend.step(state, render)
        return self._end_step(output)

    def _begin_step(self, halted=None) -> DragState:
        """Before a step (alone or in a batch, draggan_fast.session.batch): check there are
        points, remember where a run started (undo); -> the state the backend steps."""
        if len(self._handles) == 0:
            raise ValueError("no points to drag: add_point(handle, target) first")
        if not self._stroke_open:  # the first step of a run: remember where it started
            self._history = [*self._history[-(MAX_HISTORY - 1) :], self._snapshot()]
            self._stroke_open = True
        return self._state(halted)

    def _end_step(self, output):
        """After a step: keep its references and handles; -> (deferred StepResult, done flag)."""
        self._references = output.references
        self._handles = output.handles
        self._step_count += 1
        result = StepResult(
            output.handles, self._targets, output.done, output.losses, self._step_count,
            output.image,
        )  # fmt: skip
        return result, output.done

    def run(self, max_steps=200, until_done=True, callback=None, render_every=1, stepper=None):
        """Up to max_steps steps (stopping at the first done step when until_done).

        Step results carry an image every `render_every` steps (0: never). `callback(result)`
        sees each result; returning False stops the run. Returns the last StepResult (None
        when max_steps is 0). `undo()` goes back to the state before this call.
        Without a callback, a backend that stays on the device (fast) reads the done flags
        only every `done_check_interval(device)` steps; the steps it queued after the done
        step change nothing, and the session ends as if it had stopped there.
        `stepper(session, render) -> StepResult`, when given, takes each step instead of
        `step()` (the viewer's scheduler: it batches sessions, draggan_fast.session.batch).
        """
        max_steps = inputs.check_int("max_steps", max_steps, 0, MAX_STEPS)
        render_every = inputs.check_int("render_every", render_every, 0, MAX_STEPS)
        self._stroke_open = False
        if stepper is not None:
            result = runs.run_stepwise(
                lambda render: stepper(self, render), max_steps, until_done, callback,
                render_every,
            )  # fmt: skip
        elif callback is None and self._backend.stays_on_device:
            result, extra_steps = runs.run_queued(
                self._launch_step, self.device, max_steps, until_done, render_every
            )
            self._step_count -= extra_steps  # no-ops queued after the done step
        else:
            result = runs.run_stepwise(self.step, max_steps, until_done, callback, render_every)
        self._stroke_open = False
        return result

    def image(self, unpadded: bool = False) -> np.ndarray:
        """uint8 [H, W, 3] image of the current w, the square the drag works on (StyleGAN-Human:
        its rectangle padded left and right with white, as DragGAN shows it); `unpadded`: the
        generated rectangle, `generator.image_shape` (the same square for other families)."""
        image = self._backend.render(self._state())
        if unpadded:  # [H, W, 3] -> [1, 3, H, W] -> the generator's rectangle
            image = self.generator.unpad(image.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
        with record_function("draggan/image_transfer"):
            return image.cpu().numpy()

    # --------------------------------------------------------------- history

    def undo(self) -> bool:
        """Back to the w, handles, targets and optimizer before the last run (consecutive
        `step()` calls count as one run). Returns False when there is nothing to undo."""
        if not self._history:
            return False
        snapshot = self._history.pop()
        with torch.no_grad():
            self._w.copy_(snapshot["w"])
        self._optimizer.load_state_dict(snapshot["optimizer"])
        for group in self._optimizer.param_groups:  # settings stay as configure() left them
            group["lr"] = self.hyperparameters["lr"]
        self._handles, self._targets = snapshot["handles"], snapshot["targets"]
        self._start_handles = snapshot["start_handles"]
        self._references, self._step_count = snapshot["references"], snapshot["step"]
        self._stroke_open = False
        return True

    def reset(self):
        """Back to w0 and the handles as placed (targets and mask stay); clears the history."""
        self._handles = self._start_handles.clone()
        self._history = []
        self._restart()

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """Everything needed to continue this drag exactly, as plain data (copies): see
        draggan_fast/session/state.py for the keys. The undo history is not included."""
        return state_checks.make_state_dict(
            self.generator, hyperparameters=self.hyperparameters, w0=self._w0, w=self._w,
            optimizer=self._optimizer, handles=self._handles, targets=self._targets,
            start_handles=self._start_handles, movable_mask=self._movable_mask,
            references=self._references, step=self._step_count,
        )  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state` (a `state_dict()`, of this session or another on a generator of
        the same shapes). Its latent space, optimised layers and feature block must be this
        session's; the backend, compile and cuda_graph stay this session's. Everything is
        checked before anything changes: a bad state raises ValueError("not a valid session
        state: ...") and leaves the session as it was. The undo history starts anew."""
        self._load_state(state, state_checks.Checker("state"))

    def _load_state(self, state, check):
        loaded = state_checks.check_state(
            state, check, self.generator, self.device, self.hyperparameters,
            self._backend.make_optimizer,
        )  # fmt: skip
        # Everything checked: now the session changes.
        self.hyperparameters, self.config = loaded.hyperparameters, loaded.config
        self._w0, self._w, self._optimizer = loaded.w0, loaded.w, loaded.optimizer
        self._handles, self._targets = loaded.handles, loaded.targets
        self._start_handles, self._movable_mask = loaded.start_handles, loaded.movable_mask
        self._references, self._step_count = loaded.references, loaded.step
        self._history = []
        self._stroke_open = False

    # ------------------------------------------------------------------ files

    def save(self, path, *, include_generator=None):
        """Write `path` (JSON) and its arrays beside it (`path` with suffix .npz); no pickle.

        The generator's weights go beside them too (`path` with suffix .safetensors, named and
        hashed in the JSON, so `load(path)` needs no G) when include_generator is True, or when
        it is None (the default) and the generator is marked as tuned: a photo's generator from
        `draggan_fast.invert`, or one `load` restored from a session
        (draggan_fast/session/generator_files.py)."""
        saved_session.write_session(self.state_dict(), self.generator, path, include_generator)

    @classmethod
    def load(cls, path, G=None, *, backend=None, device=None) -> DragSession:
        """A session saved by `save`, on generator G (which must have the same shapes);
        backend/device override the saved ones. A file that is not a valid session raises
        ValueError("not a valid session file: ...").

        A session saved with its generator's weights (a real photo's tuned generator) runs on
        those, read from the file it names after checking its sha256 (safetensors only), even
        when G is given: G then only gives the device (unless `device` does) and must have the
        same shapes. G may be None only for such sessions."""
        saved = saved_session.read_session(path, G, backend=backend, device=device)
        start = np.zeros([saved.generator.w_dim], np.float32)  # a placeholder: the state's w0
        try:
            session = cls(saved.generator, w=start, device=saved.device, **saved.settings)
        except TypeError as exc:
            saved.check.require(False, f"hyperparameters: {exc}")
        session._load_state(saved.state, saved.check)
        return session
