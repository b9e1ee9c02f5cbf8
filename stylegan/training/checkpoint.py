"""Training checkpoints as safetensors (tensors) + JSON (everything else); no pickle anywhere.

A checkpoint `<stem>.safetensors` holds the state dicts of G, D and G_ema and the tensors of both
Adam optimisers under `G/`, `D/`, `G_ema/`, `G_opt/<param index>/<name>`, `D_opt/...`.
`<stem>.json` holds the format tag, the training config, the networks' constructor kwargs,
progress counters and the optimisers' param groups. Both are written to temporary names first and
renamed, so a crash never leaves a half-written checkpoint behind.
"""

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from draggan_fast.stylegan.errors import CheckpointError

FORMAT = "draggan-fast-train-checkpoint/1"
NETWORKS = ("G", "D", "G_ema")
OPTIMIZERS = ("G_opt", "D_opt")


def _optimizer_tensors(prefix, optimizer):
    state = optimizer.state_dict()
    tensors = {}
    for param_index, param_state in state["state"].items():
        for name, value in param_state.items():
            value = torch.as_tensor(value)
            tensors[f"{prefix}/{param_index}/{name}"] = value.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _optimizer_state(prefix, tensors, param_groups):
    state = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "/"):
            _, param_index, name = key.split("/", 2)
            state.setdefault(int(param_index), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def save_checkpoint(path_stem, networks: dict, optimizers: dict, meta: dict):
    """Write `<path_stem>.safetensors` and `<path_stem>.json` atomically."""
    path_stem = Path(path_stem)
    tensors, groups = {}, {}
    for name in NETWORKS:
        for key, value in networks[name].state_dict().items():
            tensors[f"{name}/{key}"] = value.detach().cpu().contiguous()
    for name in OPTIMIZERS:
        opt_tensors, groups[name] = _optimizer_tensors(name, optimizers[name])
        tensors.update(opt_tensors)
    meta = {"format": FORMAT, **meta, "param_groups": groups}
    for suffix, write in (
        (".safetensors", lambda tmp: save_file(tensors, str(tmp))),
        (".json", lambda tmp: tmp.write_text(json.dumps(meta, indent=1))),
    ):
        final = path_stem.with_suffix(suffix)
        tmp = final.with_name(final.name + ".tmp")
        write(tmp)
        os.replace(tmp, final)


def read_checkpoint(path):
    """(tensors dict, meta dict) of a checkpoint given either of its two files or its stem."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    json_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not json_path.is_file() or not tensor_path.is_file():
        raise CheckpointError(f"training checkpoint needs both {json_path} and {tensor_path}")
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{json_path}: not a {FORMAT} file")
    try:
        tensors = load_file(str(tensor_path))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{tensor_path}: unreadable safetensors ({exc})") from exc
    return tensors, meta


def load_network_state(module, tensors, name):
    prefix = name + "/"
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint's {name} does not match its config: {exc}") from exc


def load_optimizer_state(optimizer, tensors, meta, name):
    optimizer.load_state_dict(_optimizer_state(name, tensors, meta["param_groups"][name]))
