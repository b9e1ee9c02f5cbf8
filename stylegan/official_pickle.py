"""Official persistence pickles (stylegan2-ada-pytorch, stylegan3 repo, DragGAN, StyleGAN-Human):
G_ema as data, whichever family its classes are (`families` tells them apart by the weights).

Such a pickle is a dict (`G`, `D`, `G_ema`, `augment_pipe`, `training_set_kwargs`, ...) whose
networks were pickled by `torch_utils.persistence`; `safe_unpickle` turns each network into a
`PersistentObject` holding the module's `__dict__`. Here we read `G_ema`'s constructor kwargs
(`_init_args`/`_init_kwargs`, or `init_kwargs`) and rebuild its `state_dict()` under the official
names by walking `_parameters`, `_buffers` and `_modules`, exactly as torch would.
"""

import numpy as np
import torch

from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.safe_unpickle import PersistentObject


def _as_tensor(value, name: str, source: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return torch.from_numpy(np.array(value))
    raise CheckpointError(f"{source}: {name} is a {type(value).__name__}, not a tensor")


def _module_dict(module, name: str, source: str) -> dict:
    if not isinstance(module, PersistentObject):
        kind = type(module).__name__
        raise CheckpointError(f"{source}: {name or 'G_ema'} is a {kind}, not a persistent module")
    return module.state


def persistent_state_dict(module: PersistentObject, source: str, prefix="") -> dict:
    """The `state_dict()` of a pickled persistent module: official names -> tensors."""
    state = {}
    module_dict = _module_dict(module, prefix.rstrip("."), source)
    non_persistent = module_dict.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, value in (module_dict.get(group) or {}).items():
            if value is not None and not (group == "_buffers" and name in non_persistent):
                state[prefix + name] = _as_tensor(value, prefix + name, source)
    for name, child in (module_dict.get("_modules") or {}).items():
        if child is not None:
            state.update(persistent_state_dict(child, source, f"{prefix}{name}."))
    return state


def _init_args_and_kwargs(G_ema: PersistentObject, source: str):
    state = G_ema.state
    kwargs = state.get("_init_kwargs", state.get("init_kwargs"))
    args = state.get("_init_args", ())
    if not isinstance(kwargs, dict) or not isinstance(args, (tuple, list)):
        raise CheckpointError(f"{source}: G_ema carries no constructor kwargs (_init_kwargs)")
    return tuple(args), kwargs


def _check_generator(G_ema: PersistentObject, source: str):
    if G_ema.class_name != "Generator":
        raise CheckpointError(f"{source}: G_ema is a {G_ema.class_name!r}, not a Generator")


def read_official_pickle(data, source: str):
    """(init_args, init_kwargs, state dict) of G_ema from an unpickled official checkpoint."""
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{source}: pickle holds a {type(data).__name__}, not a dict with G_ema "
            "(or a TensorFlow (G, D, Gs) tuple)"
        )
    if "G_ema" not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise CheckpointError(f"{source}: no G_ema in the pickle (keys: {keys})")
    G_ema = data["G_ema"]
    _module_dict(G_ema, "G_ema", source)
    _check_generator(G_ema, source)
    init_args, init_kwargs = _init_args_and_kwargs(G_ema, source)
    return init_args, init_kwargs, persistent_state_dict(G_ema, source)
