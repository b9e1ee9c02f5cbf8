"""What `DragSession.state_dict()` holds, and the checks `load_state_dict()` runs on one.

A state dict (as `torch.optim`'s) is plain data, everything needed to continue a drag exactly:

- "generator": {"z_dim", "w_dim", "num_ws", "img_resolution"}: the shapes it was taken on;
- "hyperparameters": the settings, as `DragSession.hyperparameters`;
- "w0": float32 [1, num_ws, w_dim], the start latent;
- "w": float32 [1, num_ws, w_dim] ("w+") or [1, w_dim] ("w"), the optimised latent;
- "optimizer": the optimizer's own state_dict ({"state": {0: {...}}, "param_groups": [{...}]});
- "handles", "targets", "start_handles": float32 [K, 2] (x, y): tracked, wanted, as placed;
- "movable_mask": float32 [H, W] or None;
- "references": {"handle_features": [K, C], "feature_map": [1, C, h, w]} or None;
- "step": int, steps run so far.

The undo history is not part of it (nor of session files): a loaded state starts a new one.
`make_state_dict` makes one from a session's values. Tensors may come as torch tensors or numpy
arrays (a file's). Every check raises ValueError("not a valid session <source>: <what>") before
anything is changed; nothing here knows a DragSession's private attributes.
"""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import NamedTuple

import numpy as np
import torch

from draggan_fast.session import inputs
from draggan_fast.step.backend import DragConfig, FeatureReferences

STATE_KEYS = (
    "generator", "hyperparameters", "w0", "w", "optimizer", "handles", "targets",
    "start_handles", "movable_mask", "references", "step",
)  # fmt: skip
# Settings that decide the shapes of the state (w, the feature references): fixed per session.
FIXED_SETTINGS = ("latent_space", "n_optimized_layers", "feature_block")
# Optimizer group settings that are numbers; the other settings are flags (bool or None).
NUMBER_SETTINGS = ("lr", "eps", "weight_decay")
# Flags that say how the optimizer runs on this device, not what it computes: the loading
# session keeps its own (e.g. `capturable` on CUDA).
DEVICE_FLAGS = ("foreach", "capturable", "differentiable", "fused")


class Checker:
    """Checks of one state; `source` ("file" or "state") names it in the errors."""

    def __init__(self, source: str):
        self.source = source

    def require(self, condition, what: str):
        if not condition:
            raise ValueError(f"not a valid session {self.source}: {what}")

    def tensor(
        self, name, value, shape, device, *, keep_float_dtype=False, whose=""
    ) -> torch.Tensor:
        """A finite real tensor of `shape` (`whose` names it in the error) on device (float32
        unless keep_float_dtype)."""
        if isinstance(value, np.ndarray):
            self.require(value.dtype.kind in "fiu", f"{name} holds {value.dtype}, not numbers")
            value = torch.from_numpy(value.copy())  # copy(): contiguous, keeps 0-d
        self.require(isinstance(value, torch.Tensor), f"{name} is not an array")
        real = value.is_floating_point() or not (value.dtype == torch.bool or value.is_complex())
        self.require(real, f"{name} holds {value.dtype}, not real numbers")
        self.require(
            tuple(value.shape) == tuple(shape),
            f"{name} is {list(value.shape)}, not {whose}{list(shape)}",
        )
        dtype = value.dtype if keep_float_dtype and value.is_floating_point() else torch.float32
        value = value.detach().to(device=device, dtype=dtype)
        self.require(bool(torch.isfinite(value).all()), f"{name} holds NaN or infinite values")
        return value.clone()

    def number(self, name, value, minimum=None) -> float:
        self.require(
            isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value),
            f"{name} must be a finite number, got {value!r}",
        )
        self.require(minimum is None or value >= minimum, f"{name} must be >= {minimum}")
        return value

    def points(self, name, value) -> np.ndarray:
        """[K, 2] (x, y) from a list of pairs, an array or a tensor -> float64 [K, 2]."""
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        self.require(
            isinstance(value, (list, tuple, np.ndarray)), f"{name} must be a list of (x, y) pairs"
        )
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        self.require(array is not None, f"{name} must be a list of (x, y) pairs of numbers")
        if array.size == 0:
            array = array.reshape(0, 2)
        self.require(
            array.ndim == 2 and array.shape[1] == 2, f"{name} must be a list of (x, y) pairs"
        )
        return array

    def step(self, value) -> int:
        self.require(
            isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0,
            "step must be a non-negative integer",
        )
        return int(value)

    def optimizer(self, value, w: torch.Tensor, own_group: dict) -> dict:
        """The optimizer state_dict of one parameter of w's shape, checked and with its tensors
        on w's device, ready for `optimizer.load_state_dict`; the device flags of `own_group`
        (the loading session's) replace the saved ones."""
        self.require(isinstance(value, dict), "optimizer is not a dict")
        groups = value.get("param_groups")
        self.require(
            isinstance(groups, (list, tuple)) and len(groups) == 1 and isinstance(groups[0], dict),
            "optimizer param_groups must be a list of one JSON object",
        )
        group = {key: setting for key, setting in groups[0].items() if key != "params"}
        for key, setting in group.items():
            where = f"optimizer param_groups[0].{key}"
            if key in NUMBER_SETTINGS:
                self.number(where, setting, minimum=0)
            elif key == "betas":
                self.require(
                    isinstance(setting, (list, tuple)) and len(setting) == 2,
                    f"{where} must be two numbers",
                )
                for beta in setting:
                    self.number(where, beta, minimum=0)
                    self.require(beta < 1, f"{where} must be below 1")
            else:
                self.require(
                    setting is None or isinstance(setting, bool),
                    f"{where} must be true, false or null, got {setting!r}",
                )
        missing = [key for key in ("lr", "betas", "eps") if key not in group]
        self.require(not missing, f"optimizer param_groups[0] has no {', '.join(missing)}")
        self.require(group["lr"] > 0, "optimizer param_groups[0].lr must be > 0")
        group.update({key: own_group[key] for key in DEVICE_FLAGS if key in own_group})
        group["params"] = [0]

        states = value.get("state") or {}
        self.require(isinstance(states, dict), "optimizer state is not a dict")
        self.require(set(states) <= {0}, "optimizer state is not of one parameter")
        param_state = states.get(0, {})
        self.require(isinstance(param_state, dict), "optimizer state is not a dict")
        checked = {}
        for key, setting in param_state.items():
            where = f"optimizer/{key}"
            if key == "step":  # a one-element tensor (torch >= 1.12) or a number
                if isinstance(setting, (torch.Tensor, np.ndarray)):
                    shape = tuple(setting.shape)
                    self.require(math.prod(shape) == 1, f"{where} is {list(shape)}, not one number")
                    setting = self.tensor(where, setting, shape, "cpu")
                    self.require(float(setting.reshape(())) >= 0, f"{where} must be >= 0")
                else:
                    self.number(where, setting, minimum=0)
                checked[key] = setting
            elif isinstance(setting, (torch.Tensor, np.ndarray)):
                checked[key] = self.tensor(where, setting, w.shape, w.device)
                self.require(
                    not key.endswith("_sq") or bool((checked[key] >= 0).all()),
                    f"{where} holds negative values",
                )
            else:
                self.number(where, setting)
                checked[key] = setting
        return {"state": {0: checked} if checked else {}, "param_groups": [group]}


def generator_shape(G) -> dict:
    """The shapes a state depends on: {"z_dim", "w_dim", "num_ws", "img_resolution"}."""
    return {
        "z_dim": G.z_dim, "w_dim": G.w_dim, "num_ws": G.num_ws,
        "img_resolution": G.img_resolution,
    }  # fmt: skip


def make_state_dict(
    G,
    *,
    hyperparameters,
    w0,
    w,
    optimizer,
    handles,
    targets,
    start_handles,
    movable_mask,
    references,
    step,
) -> dict:
    """A session's state dict (copies) from its values on generator G: points as [K, 2]
    (row, col) tensors, `references` a FeatureReferences or None, `optimizer` the optimizer."""
    if references is not None:
        references = {
            "handle_features": references.handle_features.detach().clone(),
            "feature_map": references.feature_map.detach().clone(),
        }
    return {
        "generator": generator_shape(G),
        "hyperparameters": copy.deepcopy(hyperparameters),
        "w0": w0.detach().clone(),
        "w": w.detach().clone(),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "handles": torch.from_numpy(inputs.rc_to_xy(handles)),  # (x, y)
        "targets": torch.from_numpy(inputs.rc_to_xy(targets)),
        "start_handles": torch.from_numpy(inputs.rc_to_xy(start_handles)),
        "movable_mask": None if movable_mask is None else movable_mask.clone(),
        "references": references,
        "step": step,
    }  # fmt: skip


class CheckedState(NamedTuple):
    """A state dict's values, checked and on the session's device: (row, col) points."""

    hyperparameters: dict
    config: DragConfig
    w0: torch.Tensor  # [1, num_ws, w_dim]
    w: torch.Tensor  # leaf: [1, num_ws, w_dim] ("w+") or [1, w_dim] ("w")
    optimizer: torch.optim.Optimizer  # over [w], its state loaded
    handles: torch.Tensor  # [K, 2] (row, col)
    targets: torch.Tensor  # [K, 2] (row, col)
    start_handles: torch.Tensor  # [K, 2] (row, col)
    movable_mask: torch.Tensor | None  # [H, W]
    references: FeatureReferences | None
    step: int


def check_state(state, check, G, device, current, make_optimizer) -> CheckedState:
    """Check every value of a state dict for a session on generator G and `device` whose
    settings are `current` (its fixed ones must match; its backend, compile and cuda_graph
    stay); `make_optimizer(w, lr)` is the backend's. Raises check's ValueError."""
    check.require(isinstance(state, dict), "it is not a dict")
    missing = [key for key in STATE_KEYS if key not in state]
    check.require(not missing, f"{', '.join(missing)} missing")
    shape = generator_shape(G)
    check.require(
        state["generator"] == shape,
        f"it was saved for a generator of shape {state['generator']}, this one is {shape}",
    )
    hyperparameters, config = check_settings(check, state["hyperparameters"], current, G)
    w0 = check.tensor("w0", state["w0"], (1, G.num_ws, G.w_dim), device)
    w_shape = (1, G.w_dim) if config.latent_space == "w" else (1, G.num_ws, G.w_dim)
    w = check.tensor("w", state["w"], w_shape, device, whose=f"{config.latent_space}'s ")
    size = (G.img_resolution, G.img_resolution)
    handles, targets, start_handles = (
        check_points(check, name, state[name], size, device)
        for name in ("handles", "targets", "start_handles")
    )
    check.require(len(handles) == len(targets) == len(start_handles), "points do not pair up")
    mask = state["movable_mask"]
    if mask is not None:
        try:
            mask = inputs.movable_mask_tensor(mask, size, device)
        except ValueError as exc:
            check.require(False, f"movable_mask: {exc}")
    references = state["references"]
    if references is not None:
        feature_shape = G.feature_shape(config.feature_block)  # (C, h, w), every family
        references = check_references(check, references, len(handles), feature_shape, device)
    step = check.step(state["step"])
    optimizer = make_optimizer(w.requires_grad_(True), hyperparameters["lr"])
    optimizer_state = check.optimizer(state["optimizer"], w, optimizer.param_groups[0])
    try:
        optimizer.load_state_dict(optimizer_state)
    except (KeyError, ValueError, TypeError) as exc:
        check.require(False, f"optimizer state: {exc}")
    return CheckedState(
        hyperparameters, config, w0, w, optimizer, handles, targets, start_handles, mask,
        references, step,
    )  # fmt: skip


def check_settings(check, settings, current, G) -> tuple[dict, DragConfig]:
    """A state's hyperparameters for a session whose settings are `current`."""
    check.require(isinstance(settings, dict), "hyperparameters is not a dict")
    settings = dict(settings)
    for name in FIXED_SETTINGS:
        check.require(
            settings.get(name) == current[name],
            f"hyperparameters {name} is {settings.get(name)!r}, this session's is "
            f"{current[name]!r} (fixed per session)",
        )
    settings["backend"] = current["backend"]
    for name in ("compile", "cuda_graph"):
        settings.pop(name, None)
    try:
        hyperparameters, config = inputs.drag_settings(G, **settings)
    except (TypeError, ValueError) as exc:
        check.require(False, f"hyperparameters: {exc}")
    hyperparameters.update({name: current[name] for name in ("compile", "cuda_graph")})
    return hyperparameters, config


def check_points(check, name, value, size, device) -> torch.Tensor:
    """(x, y) pairs -> [K, 2] (row, col) on device, each inside an image of size (H, W)."""
    rows = []
    for point in check.points(name, value):
        try:
            x, y = inputs.point_xy(name.removesuffix("s"), point, size)
        except ValueError as exc:
            check.require(False, f"points: {exc}")
        rows.append([y, x])
    return torch.tensor(rows, dtype=torch.float32, device=device).reshape(-1, 2)


def check_references(check, references, count, feature_shape, device) -> FeatureReferences:
    """{"handle_features": [K, C], "feature_map": [1, C, h, w]} of the feature block, whose
    (C, h, w) is `feature_shape` (G.feature_shape: StyleGAN-Human's padded square, StyleGAN3's
    layer output with its margin)."""
    check.require(isinstance(references, dict), "references is not a dict")
    for name in ("handle_features", "feature_map"):
        check.require(name in references, f"references/{name} is missing")
    channels = feature_shape[0]
    feature_map = check.tensor(
        "references/feature_map", references["feature_map"], (1, *feature_shape), device,
        keep_float_dtype=True, whose="the feature block's ",
    )  # fmt: skip
    shape = list(getattr(references["handle_features"], "shape", []))
    check.require(
        shape == [count, channels],
        f"feature references do not match the points: references/handle_features is {shape}, "
        f"not [{count}, {channels}]",
    )
    handle_features = check.tensor(
        "references/handle_features", references["handle_features"], (count, channels), device,
        keep_float_dtype=True,
    )  # fmt: skip
    return FeatureReferences(handle_features, feature_map)
