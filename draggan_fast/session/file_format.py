"""Saving and loading a `DragSession`: JSON for the description, a sibling .npz for the arrays.

Nothing is pickled and nothing from the files is executed: the JSON is parsed with `json` and
the arrays with `numpy.load(allow_pickle=False)`; every field is checked before use.

Layout: `<path>` (JSON) and `<path with suffix .npz>` holding `w0`, `w` (the optimised tensor),
`movable_mask` (when set), `references/handle_features` and `references/feature_map` (when
taken) and `optimizer/<key>` (tensor state of the optimizer's one parameter).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from draggan_fast.session.drag_session import DragSession, rc_to_xy
from draggan_fast.step.backend import FeatureReferences

FORMAT = "draggan-fast-session"
VERSION = 1


def arrays_path(path) -> Path:
    return Path(path).with_suffix(".npz")


def _generator_shape(G) -> dict:
    return {
        "z_dim": G.z_dim, "w_dim": G.w_dim, "num_ws": G.num_ws,
        "img_resolution": G.img_resolution,
    }  # fmt: skip


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.numpy()


def save_session(session, path) -> None:
    """Write session to `path` (JSON) and `arrays_path(path)` (npz)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        raise ValueError(f"{path}: give the JSON path (e.g. session.json); the .npz goes beside it")
    arrays = {"w0": session._w0, "w": session._w}
    if session._movable_mask is not None:
        arrays["movable_mask"] = session._movable_mask
    if session._references is not None:
        arrays["references/handle_features"] = session._references.handle_features
        arrays["references/feature_map"] = session._references.feature_map
    optimizer = session._optimizer.state_dict()
    param_state = optimizer["state"].get(0, {})
    scalars = {}
    for key, value in param_state.items():
        if isinstance(value, torch.Tensor):
            arrays[f"optimizer/{key}"] = value
        else:
            scalars[key] = value
    description = {
        "format": FORMAT,
        "version": VERSION,
        "generator": _generator_shape(session.generator),
        "hyperparameters": session.hyperparameters,
        "points": {
            "handles": session.handles.tolist(),  # (x, y)
            "targets": session.targets.tolist(),
            "start_handles": rc_to_xy(session._start_handles).tolist(),
        },
        "step": session.step_count,
        "optimizer": {
            "param_groups": [
                {key: value for key, value in group.items() if key != "params"}
                for group in optimizer["param_groups"]
            ],
            "scalars": scalars,
        },
        "arrays": arrays_path(path).name,
    }
    np.savez(arrays_path(path), **{name: _to_numpy(value) for name, value in arrays.items()})
    path.write_text(json.dumps(description, indent=1))


def _require(condition, message):
    if not condition:
        raise ValueError(f"not a valid session file: {message}")


def _section(parent: dict, name: str, where: str = "") -> dict:
    """parent[name] as a JSON object ({} when absent or null); `where` prefixes the message."""
    value = parent.get(name) or {}
    _require(isinstance(value, dict), f"{where}{name} is not a JSON object")
    return value


def _read(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"session file not found: {path}")
    if not arrays_path(path).is_file():
        raise FileNotFoundError(f"session arrays not found: {arrays_path(path)}")
    try:
        description = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a valid session file: {path}: {exc}") from None
    _require(isinstance(description, dict), "the JSON is not an object")
    _require(description.get("format") == FORMAT, f"format is not {FORMAT!r}")
    _require(description.get("version") == VERSION, f"unsupported version (this reads {VERSION})")
    try:
        with np.load(arrays_path(path), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a valid session file: {arrays_path(path)}: {exc}") from None
    return description, arrays


def load_session(path, G, *, backend=None, device=None):
    """The session saved at `path`, on generator G; backend/device override the saved ones."""
    description, arrays = _read(path)
    shape = description.get("generator")
    _require(
        shape == _generator_shape(G),
        f"it was saved for a generator of shape {shape}, this one is {_generator_shape(G)}",
    )
    _require("w0" in arrays and "w" in arrays, "arrays w0 and w are missing")
    hyperparameters = dict(_section(description, "hyperparameters"))
    _require("seed" in hyperparameters and "backend" in hyperparameters, "no hyperparameters")
    if backend is not None:
        hyperparameters["backend"] = backend
    if hyperparameters["backend"] != "fast":
        hyperparameters.pop("compile", None)  # only the fast backend compiles its step
        hyperparameters.pop("cuda_graph", None)  # and replays it as a CUDA graph
    try:
        session = DragSession(G, w=arrays["w0"], device=device, **hyperparameters)
    except TypeError as exc:
        raise ValueError(f"not a valid session file: hyperparameters: {exc}") from None
    device = session.device

    w = torch.from_numpy(arrays["w"]).to(device=device, dtype=torch.float32)
    _require(w.shape == session._w.shape, f"w is {list(w.shape)}, not {list(session._w.shape)}")
    with torch.no_grad():
        session._w.copy_(w)

    points = _section(description, "points")
    handles, targets = points.get("handles", []), points.get("targets", [])
    start_handles = points.get("start_handles", handles)
    _require(
        all(isinstance(value, list) for value in (handles, targets, start_handles)),
        "points must be lists of (x, y) pairs",
    )
    _require(len(handles) == len(targets) == len(start_handles), "points do not pair up")
    for handle, target in zip(start_handles, targets):
        session.add_point(handle, target)
    for index, handle in enumerate(handles):  # where tracking had moved them
        session._handles[index] = session._rc("handle", handle)[0]
    if "movable_mask" in arrays:
        session.set_mask(arrays["movable_mask"])

    if "references/handle_features" in arrays:
        _require("references/feature_map" in arrays, "references/feature_map is missing")
        handle_features = torch.from_numpy(arrays["references/handle_features"]).to(device)
        feature_map = torch.from_numpy(arrays["references/feature_map"]).to(device)
        block = G.synthesis.blocks[session.config.feature_block]
        map_shape = (1, block.conv1.out_channels, block.resolution, block.resolution)
        _require(
            tuple(feature_map.shape) == map_shape,
            f"references/feature_map is {list(feature_map.shape)}, not the feature block's "
            f"{list(map_shape)}",
        )
        _require(
            tuple(handle_features.shape) == (len(handles), map_shape[1]),
            "feature references do not match the points",
        )
        session._references = FeatureReferences(handle_features, feature_map)

    optimizer = _section(description, "optimizer")
    param_state = dict(_section(optimizer, "scalars", "optimizer "))
    for name, value in arrays.items():
        if name.startswith("optimizer/"):
            key = name[len("optimizer/") :]
            _require(
                key == "step" or value.shape == tuple(session._w.shape),
                f"{name} is {list(value.shape)}, not w's {list(session._w.shape)}",
            )
            param_state[key] = torch.from_numpy(value)
    groups = optimizer.get("param_groups")
    _require(
        isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict),
        "optimizer param_groups must be a list of one JSON object",
    )
    state_dict = {"state": {0: param_state} if param_state else {}, "param_groups": groups}
    state_dict["param_groups"][0]["params"] = [0]
    try:
        session._optimizer.load_state_dict(state_dict)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not a valid session file: optimizer state: {exc}") from None

    step = description.get("step", 0)
    _require(
        isinstance(step, int) and not isinstance(step, bool) and step >= 0,
        "step must be a non-negative integer",
    )
    session._step_count = step
    return session
