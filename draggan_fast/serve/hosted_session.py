"""One drag session on a replica: the DragSession, its drag thread, its checkpoints.

Commands are the viewer protocol's (draggan_fast/viewer/protocol.py checks their fields); the
ones that change the session are refused while a drag runs (stop it first), so the drag thread
owns the session from `start` to its end. A running drag checkpoints every `checkpoint_every`
steps and when it ends; every other change checkpoints at once. A session restored from a
checkpoint taken mid-drag resumes that drag for the steps it had left.
"""

import logging
import threading

import numpy as np

from draggan_fast.session.inputs import OFFICIAL_DRAG_SETTINGS
from draggan_fast.viewer.protocol import parse_command

log = logging.getLogger(__name__)

IMAGE_SETTINGS = ("seed", "truncation_psi", "latent_space")
_WHILE_RUNNING = {"get_state", "stop"}
_COMMANDS = {
    "add_point", "set_point", "remove_point", "clear_points", "set_params", "start", "stop",
    "undo", "reset_image", "get_state", "new_image",
}  # fmt: skip
_SESSION_PARAMS = tuple(OFFICIAL_DRAG_SETTINGS)  # the drag settings a command may set


class SessionBusy(Exception):
    """The command needs the session idle (HTTP 409)."""


class HostedSession:
    def __init__(self, session_id, generator, store, replica, config):
        self.session_id, self.replica = session_id, replica
        self._generator, self._store, self._config = generator, store, config
        self._lock = threading.Lock()
        self._session = None
        self._image = {"seed": 0, "truncation_psi": 0.7, "latent_space": "w+"}
        self._drag = None  # the drag thread
        self._stop = threading.Event()
        self._steps_left = 0
        self.restored_step = None  # the step of the checkpoint this session came from
        self.checkpoint_step = None  # the step of its newest checkpoint
        self.stopped_reason = None
        self.closed = False

    # Opening.

    def restore(self) -> bool:
        """Continue from the newest checkpoint (False when there is none); resumes its drag."""
        found = self._store.latest(self.session_id)
        if found is None:
            return False
        path, meta = found
        from draggan_fast import DragSession

        session = DragSession.load(path, self._generator, backend=self._config.backend)
        self._session, self._image = session, meta["image"]
        self.restored_step = self.checkpoint_step = session.step_count
        if meta.get("running") and meta.get("steps_left", 0) > 0:
            self._start_drag(int(meta["steps_left"]))
        return True

    def open(self, image: dict) -> None:
        """Make the session (seed, truncation_psi, latent_space); an open session stays."""
        with self._lock:
            if self._session is None:
                self._new_session({**self._image, **image})
                self._checkpoint(running=False)

    def _new_session(self, image):
        from draggan_fast import DragSession

        params = {k: v for k, v in image.items() if k in _SESSION_PARAMS}
        settings = {k: image[k] for k in IMAGE_SETTINGS}
        self._session = DragSession(
            self._generator, **settings, **params, backend=self._config.backend,
            device=self._config.device,
        )  # fmt: skip
        self._image = settings

    # Commands.

    def command(self, raw: dict) -> dict:
        """One viewer-protocol command (checked) -> the reply's fields."""
        command = parse_command(raw)
        kind = command["type"]
        if kind not in _COMMANDS:
            raise ValueError(f"command {kind!r} is not served by the Ray app")
        if kind == "stop":
            return {"stopped": self.stop()}
        if kind == "get_state":
            return {}
        with self._lock:
            if self.running:
                raise SessionBusy(f"a drag is running: stop it before {kind}")
            if self._session is None:
                raise SessionBusy("the session is not open: POST .../open first")
            reply = self._apply(command)
            if kind == "start":
                self._start_drag(command.get("max_steps", self._config.max_steps))
            else:
                self._checkpoint(running=False)
            return reply

    def _apply(self, command) -> dict:
        session, kind = self._session, command["type"]
        if kind == "add_point":
            return {"index": session.add_point(command["handle"], command["target"])}
        if kind == "set_point":
            if command.get("handle") is not None:
                session.set_handle(command["index"], command["handle"])
            if command.get("target") is not None:
                session.set_target(command["index"], command["target"])
        elif kind == "remove_point":
            session.remove_point(command["index"])
        elif kind == "clear_points":
            session.clear_points()
        elif kind == "set_params":
            changes = {k: command[k] for k in _SESSION_PARAMS if k in command}
            if changes:
                session.configure(**changes)
        elif kind == "undo":
            return {"undone": session.undo()}
        elif kind == "reset_image":
            session.reset()
        elif kind == "new_image":
            self._new_session(
                {**self._image, **{k: command[k] for k in IMAGE_SETTINGS if k in command}}
            )
        elif kind == "start":
            max_steps = command.get("max_steps", self._config.max_steps)
            if max_steps > self._config.max_steps:
                raise ValueError(f"max_steps must be at most {self._config.max_steps}")
            if len(session.handles) == 0:
                raise ValueError("no points to drag: place a handle and its target first")
        return {}

    @property
    def running(self) -> bool:
        return self._drag is not None and self._drag.is_alive()

    def stop(self) -> bool:
        drag = self._drag
        if drag is None or not drag.is_alive():
            return False
        self._stop.set()
        drag.join()
        return True

    def close(self):
        """Stop, forget the checkpoints, release the session (DELETE)."""
        self.stop()
        self.closed = True
        self._session = None
        self._store.remove(self.session_id)

    def release(self):
        """Stop the drag and drop the session from memory; its checkpoints stay."""
        self.stop()
        self._session = None

    # The drag.

    def _start_drag(self, steps: int):
        self._stop.clear()
        self._steps_left, self.stopped_reason = steps, None
        self._drag = threading.Thread(target=self._run, args=(steps,), daemon=True)
        self._drag.start()

    def _run(self, max_steps):
        every = self._config.checkpoint_every
        reason = "max_steps"

        def between_steps(result):
            nonlocal reason
            self._steps_left -= 1
            if result.done:
                reason = "done"
            if self._stop.is_set():
                reason = "stopped"
                return False
            if (max_steps - self._steps_left) % every == 0 and self._steps_left > 0:
                self._checkpoint(running=True)
            return True

        try:
            self._session.run(max_steps, until_done=True, callback=between_steps, render_every=0)
        except Exception as exc:
            log.exception("drag of session %s failed", self.session_id)
            reason = f"error: {exc}"
        self.stopped_reason = reason
        self._steps_left = 0
        self._checkpoint(running=False)

    def _checkpoint(self, running: bool):
        meta = {"image": self._image, "running": running, "steps_left": self._steps_left}
        try:
            self.checkpoint_step = self._store.save(self.session_id, self._session, meta)
        except OSError:
            log.exception("could not checkpoint session %s", self.session_id)

    # Reading.

    def state(self) -> dict:
        session = self._session
        state = {
            "session": self.session_id, "replica": self.replica, "open": session is not None,
            "running": self.running, "restored_step": self.restored_step,
            "checkpoint_step": self.checkpoint_step,
            "checkpoint_every": self._config.checkpoint_every,
            "stopped_reason": self.stopped_reason, **self._image,
        }  # fmt: skip
        if session is not None:
            handles, targets = session.handles, session.targets
            distances = np.linalg.norm(targets - handles, axis=1) if len(handles) else []
            state.update(
                step=session.step_count, handles=handles.tolist(), targets=targets.tolist(),
                distances=[float(d) for d in distances],
            )  # fmt: skip
        return state

    def image_png(self) -> bytes:
        import io

        from PIL import Image

        with self._lock:
            if self._session is None:
                raise SessionBusy("the session is not open")
            pixels = self._session.image()  # uint8 [H, W, 3]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        return buffer.getvalue()
