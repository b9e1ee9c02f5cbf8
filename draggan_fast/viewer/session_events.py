"""What a session worker tells its client about the session (docs/protocol.md): the state
event, a drag step's progress, the frame, mask and file envelopes, and the step timing they
carry. Functions of the session and the worker's settings: the worker decides when each goes."""

import numpy as np

from draggan_fast.viewer.protocol import pack_envelope
from draggan_fast.viewer.replies import id_of


class StepTiming:
    """A running average of how long a drag step takes (the newest weighs 0.2)."""

    def __init__(self):
        self.ms_per_step = None

    def record(self, seconds: float):
        ms = seconds * 1000.0
        self.ms_per_step = ms if self.ms_per_step is None else 0.8 * self.ms_per_step + 0.2 * ms

    def fields(self) -> dict:
        if self.ms_per_step is None:
            return {"ms_per_step": None, "steps_per_s": None}
        return {"ms_per_step": self.ms_per_step, "steps_per_s": 1000.0 / self.ms_per_step}


def points_of(session) -> dict:
    """{"handles": [[x, y], ...], "targets": [[x, y], ...]}, image pixels as floats."""
    return {
        "handles": [[float(x), float(y)] for x, y in session.handles],
        "targets": [[float(x), float(y)] for x, y in session.targets],
    }


def state_event(session, *, image, params, models, size, running) -> dict:
    """image: {model, seed, truncation_psi, latent_space}; params: the page's parameters (a
    drag setting it left unset is None: the event shows the session's value in use and, in
    settings_source, where it came from); size: (height, width) of the image."""
    height, width = size
    points = points_of(session)
    in_use = {name: session.hyperparameters[name] for name in session.settings_source}
    return {
        "type": "state",
        **image,
        "models": models,
        "backend": session.backend,
        "params": {**params, **in_use},
        "settings_source": dict(session.settings_source),
        "points": [
            {"handle": handle, "target": target}
            for handle, target in zip(points["handles"], points["targets"])
        ],
        "has_mask": session.movable_mask is not None,
        "running": running,
        "step": session.step_count,
        "image": {"width": width, "height": height},
    }


def step_progress(result, timing: StepTiming) -> dict:
    """A drag step's fields (a progress event, or the header of its frame)."""
    return {
        "step": result.step,
        "handles": result.handles.tolist(),
        "targets": result.targets.tolist(),
        "distances": result.distances.tolist(),
        "losses": {k: float(v) for k, v in result.losses.items()},
        "done": bool(result.done),
        **timing.fields(),
    }


def session_progress(session, timing: StepTiming) -> dict:
    """The fields of a frame shown outside a drag step: the session's step and points."""
    handles, targets = session.handles, session.targets
    distances = np.linalg.norm(targets - handles, axis=1) if len(handles) else []
    return {
        "step": session.step_count,
        **points_of(session),
        "distances": [float(d) for d in distances],
        **timing.fields(),
    }


def frame_message(seq: int, image, running: bool, progress: dict) -> bytes:
    """image: uint8 [H, W, 3] -> a frame envelope, its header carrying `progress`."""
    height, width, channels = image.shape
    header = {
        "kind": "frame", "seq": seq, "width": width, "height": height, "channels": channels,
        "format": "rgb8", "running": running,
    }  # fmt: skip
    return pack_envelope({**header, **progress}, image.tobytes())


def mask_message(session) -> bytes | None:
    """The session's movable mask as uint8 [H, W] (1 = movable), for the page's overlay; None
    when it has none."""
    movable_mask = session.movable_mask
    if movable_mask is None:
        return None
    height, width = movable_mask.shape
    header = {"kind": "mask", "width": width, "height": height}
    return pack_envelope(header, (movable_mask > 0.5).astype(np.uint8).tobytes())


def file_message(command: dict, name: str, data: bytes, mime: str) -> bytes:
    """A file in reply to `command` (its id echoed)."""
    header = {"kind": "file", "command": command["type"], "name": name, "mime": mime}
    return pack_envelope({**header, **id_of(command)}, data)
