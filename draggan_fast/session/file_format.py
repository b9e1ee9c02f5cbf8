"""Session files: JSON for the description, a sibling .npz for the arrays.

This module only turns a session's state dict (see draggan_fast/session/state.py) into files and
files back into a state dict; `DragSession.save` / `DragSession.load` call it, and
`DragSession.load_state_dict` checks what it read. Nothing is pickled and nothing from the files
is executed: the JSON is parsed with `json` and the arrays with `numpy.load(allow_pickle=False)`.

Layout: `<path>` (JSON: format, version, generator, hyperparameters, points as (x, y) lists,
step, optimizer param_groups and its non-tensor state) and `<path with suffix .npz>` holding
`w0`, `w` (the optimised tensor), `movable_mask` (when set), `references/handle_features` and
`references/feature_map` (when taken) and `optimizer/<key>` (tensor state of the optimizer's one
parameter). A session on a generator of its own (a photo's tuned one) also names it:
`"generator_file": {"file", "sha256"}` (see draggan_fast/session/generator_files.py).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "draggan-fast-session"
VERSION = 1


def arrays_path(path) -> Path:
    return Path(path).with_suffix(".npz")


def _to_numpy(tensor) -> np.ndarray:
    if not isinstance(tensor, torch.Tensor):
        return np.asarray(tensor)
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.numpy()


def write_state(state: dict, path, generator_file: dict | None = None) -> None:
    """Write a session state dict to `path` (JSON) and `arrays_path(path)` (npz);
    generator_file: the entry of the generator written beside them (`generator_files`)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        raise ValueError(f"{path}: give the JSON path (e.g. session.json); the .npz goes beside it")
    arrays = {"w0": state["w0"], "w": state["w"]}
    if state["movable_mask"] is not None:
        arrays["movable_mask"] = state["movable_mask"]
    if state["references"] is not None:
        arrays["references/handle_features"] = state["references"]["handle_features"]
        arrays["references/feature_map"] = state["references"]["feature_map"]
    optimizer = state["optimizer"]
    scalars = {}
    for key, value in optimizer["state"].get(0, {}).items():
        if isinstance(value, torch.Tensor):
            arrays[f"optimizer/{key}"] = value
        else:
            scalars[key] = value
    description = {
        "format": FORMAT,
        "version": VERSION,
        "generator": state["generator"],
        "hyperparameters": state["hyperparameters"],
        "points": {  # (x, y)
            name: _to_numpy(state[name]).tolist()
            for name in ("handles", "targets", "start_handles")
        },
        "step": state["step"],
        "optimizer": {
            "param_groups": [
                {key: value for key, value in group.items() if key != "params"}
                for group in optimizer["param_groups"]
            ],
            "scalars": scalars,
        },
        "arrays": arrays_path(path).name,
    }
    if generator_file is not None:
        description["generator_file"] = generator_file
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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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


def read_state(path) -> dict:
    """The session state dict saved at `path`: its layout checked here, its values by
    `DragSession.load_state_dict`. Arrays come as numpy arrays, points as JSON lists;
    "generator_file" is the JSON's entry naming the session's own generator (checked by
    `generator_files.read_generator`), or None."""
    description, arrays = _read(path)
    _require("w0" in arrays and "w" in arrays, "arrays w0 and w are missing")
    hyperparameters = dict(_section(description, "hyperparameters"))
    points = _section(description, "points")
    handles, targets = points.get("handles", []), points.get("targets", [])
    start_handles = points.get("start_handles", handles)  # not in the first files
    _require(
        all(isinstance(value, list) for value in (handles, targets, start_handles)),
        "points must be lists of (x, y) pairs",
    )
    references = None
    if "references/handle_features" in arrays:
        _require("references/feature_map" in arrays, "references/feature_map is missing")
        references = {
            "handle_features": arrays["references/handle_features"],
            "feature_map": arrays["references/feature_map"],
        }
    optimizer = _section(description, "optimizer")
    param_state = dict(_section(optimizer, "scalars", "optimizer "))
    for name, value in arrays.items():
        if name.startswith("optimizer/"):
            param_state[name[len("optimizer/") :]] = value
    groups = optimizer.get("param_groups")
    _require(
        isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict),
        "optimizer param_groups must be a list of one JSON object",
    )
    return {
        "generator": description.get("generator"),
        "hyperparameters": hyperparameters,
        "w0": arrays["w0"],
        "w": arrays["w"],
        "optimizer": {
            "state": {0: param_state} if param_state else {},
            "param_groups": [{**groups[0], "params": [0]}],
        },
        "handles": handles,
        "targets": targets,
        "start_handles": start_handles,
        "movable_mask": arrays.get("movable_mask"),
        "references": references,
        "step": description.get("step", 0),
        "generator_file": description.get("generator_file"),
    }
