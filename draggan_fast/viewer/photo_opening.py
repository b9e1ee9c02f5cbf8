"""The viewer's open_photo command: an uploaded photo -> `draggan_fast.invert` -> a drag session
on the photo's tuned generator, with progress events and cancellation (docs/protocol.md).

The upload is untrusted: it is written to a private temporary file and decoded by
`draggan_fast.inversion.preprocess` (image formats Pillow reads, at most its MAX_PIXELS,
checked from the header before any pixel is decoded; truncated or damaged files refused), every
failure one line naming the upload, never the temporary path. The server's message limit
(`max_message_bytes`, 8 MiB by default) bounds the upload's bytes.

While the inversion runs, the worker thread is busy: `poll` (called after every step) takes
the commands that arrived; one of ENDS_PHOTO cancels the inversion (PhotoCancelled carries it,
to apply next), any other is refused at once with a one-line error.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

# On a CPU the library's defaults (300 projection + 300 tuning steps) take ~3x as long as this;
# a viewer user waits for it, so the viewer runs fewer (a command may ask for more, up to
# MAX_STEPS each). On CUDA the library's defaults.
CPU_STEPS = {"steps": 100, "tuning_steps": 100}
MAX_STEPS = 2000
FRAME_EVERY = 10  # a reconstruction frame every this many steps (and at each stage's end)
# Commands that cancel an inversion under way (they replace or stop what it is making).
ENDS_PHOTO = {"stop", "new_image", "load_session", "open_photo", "undo", "reset_image", "start"}
_SUFFIX_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789")


class PhotoCancelled(Exception):
    """The inversion stopped for `command` (a command of ENDS_PHOTO, still to be applied)."""

    def __init__(self, command):
        super().__init__(f"open_photo cancelled by {command['type']}")
        self.command = command


def inversion_steps(command: dict, device) -> dict:
    """The step counts for invert: the command's, else CPU_STEPS on a CPU, else invert's own."""
    steps = {} if str(device).startswith("cuda") else dict(CPU_STEPS)
    steps.update({name: command[name] for name in ("steps", "tuning_steps") if name in command})
    return steps


def _upload_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 and set(suffix[1:]) <= _SUFFIX_CHARS else ""


def invert_upload(command: dict, generator, *, poll, on_progress):
    """The `Inversion` of the uploaded photo (command["payload"]) into `generator`.

    poll(): called after every step, may raise PhotoCancelled; on_progress(InversionProgress):
    called after every step (frames and progress events are the caller's). Bad photos raise a
    one-line ValueError naming the upload."""
    from draggan_fast import invert

    name = command.get("name", "photo")
    payload = command["payload"]
    if not payload:
        raise ValueError(f"{name}: the uploaded photo is empty")
    device = generator.mapping.w_avg.device

    def progress(step):
        on_progress(step)
        poll()

    with tempfile.TemporaryDirectory(prefix="draggan-photo-") as folder:
        path = Path(folder) / f"upload{_upload_suffix(name)}"
        path.write_bytes(payload)
        try:
            return invert(generator, path, progress=progress, **inversion_steps(command, device))
        except ValueError as exc:
            message = str(exc).replace(str(path), name).replace(folder, "")
            raise ValueError(message.splitlines()[0] if message else name) from None


def progress_event(step) -> dict:
    """The photo_progress event of one InversionProgress."""
    return {"type": "photo_progress", "stage": step.stage, "step": step.step,
            "total": step.total, "loss": step.loss}  # fmt: skip


def wants_frame(step) -> bool:
    return step.step % FRAME_EVERY == 0 or step.step == step.total


def metrics_reply(inversion) -> dict:
    """The ok reply's fields: how well the photo is reconstructed, and how long it took."""
    metrics = inversion.metrics
    finite = {key: value for key, value in metrics.items()
              if not isinstance(value, float) or math.isfinite(value)}  # fmt: skip
    return {
        key: finite.get(key)
        for key in ("psnr_projection", "psnr_tuned", "seconds_projection", "seconds_tuning",
                    "steps", "tuning_steps")
    }  # fmt: skip
