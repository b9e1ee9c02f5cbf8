"""The file work of `DragSession.save` and `DragSession.load`, apart from the session itself.

`write_session` writes a session's state dict (file_format.py: JSON + npz) and, when asked, its
generator's weights beside it (generator_files.py). `read_session` reads them back and decides
what the loaded session runs on: the session's own generator (a real photo's tuned one, checked
against its sha256) or the G the caller gives, whose shapes must be the saved ones; and the
settings to build it with (the saved ones, the backend overridden when asked). The state's
values are checked afterwards by `DragSession.load_state_dict`'s checks (state.py) with the
`Checker` returned here, so every error reads "not a valid session file: ...".
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from draggan_fast.session import file_format, generator_files
from draggan_fast.session import state as state_checks


def write_session(state: dict, G: torch.nn.Module, path, include_generator) -> None:
    """Write `state` (a `DragSession.state_dict()` on G) to `path` and its .npz; G's weights
    too when include_generator is True, or when it is None and G is marked as tuned."""
    if include_generator is None:
        include_generator = generator_files.is_tuned(G)
    generator_file = None
    if include_generator:
        generator_file = generator_files.write_generator(G, path)
    file_format.write_state(state, path, generator_file)


class SavedSession(NamedTuple):
    """A session file read back, ready to build a DragSession from."""

    state: dict  # its state dict, values not yet checked
    generator: torch.nn.Module  # what it runs on
    device: torch.device | str | None  # where (None: where the generator is)
    settings: dict  # DragSession keywords: the saved hyperparameters, backend overridden
    check: state_checks.Checker  # raises "not a valid session file: ..."


def read_session(path, G=None, *, backend=None, device=None) -> SavedSession:
    """The session saved at `path`, on its own generator when it names one (G then only gives
    the device unless `device` does, and must have the same shapes), else on G."""
    state = file_format.read_state(path)
    check = state_checks.Checker("file")
    if state["generator_file"] is not None:
        if G is not None:
            shape = state_checks.generator_shape(G)
            check.require(
                state["generator"] == shape,
                f"it was saved for a generator of shape {state['generator']}, G is {shape}",
            )
            device = device if device is not None else G.mapping.w_avg.device
        G = generator_files.read_generator(state["generator_file"], path, device)
    elif G is None:
        raise ValueError(f"{path}: the session names no generator file; pass its generator G")
    shape = state_checks.generator_shape(G)
    check.require(
        state["generator"] == shape,
        f"it was saved for a generator of shape {state['generator']}, this one is {shape}",
    )
    settings = dict(state["hyperparameters"])
    check.require("seed" in settings and "backend" in settings, "no hyperparameters")
    if backend is not None:
        settings["backend"] = backend
    if settings["backend"] != "fast":
        settings.pop("compile", None)  # only the fast backend compiles its step
        settings.pop("cuda_graph", None)  # and replays it as a CUDA graph
    return SavedSession(state, G, device, settings, check)
