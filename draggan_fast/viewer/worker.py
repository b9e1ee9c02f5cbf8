"""One connection's drag session, driven from a thread of its own.

The event loop only validates messages and queues them here; this thread owns the DragSession
and applies commands in order: while idle as they come, while dragging between two steps. It
never waits on the network: everything it says goes through `post(data, latest_key)` (an
Outbox), where frames and progress are latest-wins.
"""

import json
import logging
import queue
import threading
import time

from draggan_fast.viewer import photo_opening, session_events, session_files
from draggan_fast.viewer.command_queue import CommandQueue, ConnectionClosed
from draggan_fast.viewer.drag_recording import EXPORTS, DragRecording
from draggan_fast.viewer.image_history import ImageHistory
from draggan_fast.viewer.protocol import MAX_POINTS
from draggan_fast.viewer.replies import (
    INPUT_ERRORS,
    decode_mask,
    describe_error,
    error_reply,
    id_of,
)
from draggan_fast.viewer.scheduler import DEFAULT_MAX_BATCH, shared_scheduler
from draggan_fast.viewer.session_settings import SessionSettings

log = logging.getLogger(__name__)

# Commands that end a running drag before they apply (they replace the latent or the session).
_ENDS_DRAG = {"new_image", "undo", "reset_image", "load_session", "open_photo", "stop", "start"}
_REPLIED = object()  # _apply's answer when it sent the reply itself


class SessionWorker:
    def __init__(self, registry, session_options, post, disconnect):
        """registry: ModelRegistry; session_options: DragSession keywords every session gets
        (backend, ..., see session_settings.py); post(data, latest_key=None): send a message to
        the client; disconnect(code, reason): close the connection after the messages posted so
        far."""
        self._registry = registry
        options = dict(session_options)
        # Steps through the device's scheduler, batched with other sessions (1: alone).
        self._max_batch = options.pop("max_batch", DEFAULT_MAX_BATCH)
        self._batch_memory = options.pop("batch_memory_bytes", None)
        self._settings = SessionSettings(registry, options)
        self._post = post
        self._disconnect = disconnect
        self._commands = CommandQueue()
        self._thread = threading.Thread(target=self._main, name="draggan-session", daemon=True)
        self._session = None
        self._recording = DragRecording()
        self._replaced = ImageHistory()  # for undo of new_image / load_session
        self._frame_seq = 0
        self._follow_up = None  # a command that cancelled an open_photo, to apply next
        self._step_timing = session_events.StepTiming()
        self.dragging = False
        self.save_on_close = None  # a session file path: the session is saved there at the end
        self.saved = False  # whether that save happened

    # Called from the event loop.

    def start(self):
        self._thread.start()

    def submit(self, command: dict):
        self._commands.put(command)

    @property
    def busy(self) -> bool:
        """True while the queue is full: stop reading the connection until it drains."""
        return self._thread.is_alive() and self._commands.full

    def close(self):
        """The connection went away: what is queued is dropped, the thread ends after the
        command (or drag step) under way."""
        self._commands.close()

    def join(self, timeout=None):
        self._thread.join(timeout)

    @property
    def step_count(self) -> int:
        session = self._session
        return 0 if session is None else session.step_count

    # The worker thread.

    def _main(self):
        try:
            self._open_image()
            self._send_state()
            self._send_frame(self._session.image())
            follow_up = None
            while True:
                command = self._take(wait=True) if follow_up is None else follow_up
                follow_up = self._handle(command)
        except ConnectionClosed:
            return
        except Exception as exc:  # no session to go on with (its first image failed)
            log.exception("viewer session failed")
            self._send({"type": "error", "message": f"session failed: {exc}", "fatal": True})
            self._disconnect(1011, "session failed")
        finally:  # nothing of a closed connection outlives its thread
            self._save_before_release()
            self._session = None
            self._recording.clear()
            self._replaced.clear()

    def _save_before_release(self):
        if self.save_on_close is None or self._session is None:
            return
        try:
            self.save_on_close.parent.mkdir(parents=True, exist_ok=True)
            self._session.save(self.save_on_close)
            self.saved = True
        except Exception:  # a full disk must not keep the thread (and the session) alive
            log.exception("could not save an expiring session to %s", self.save_on_close)

    def _take(self, wait):
        """The next queued command (queue.Empty when none and not `wait`); ConnectionClosed
        once the connection has gone."""
        return self._commands.take(wait)

    def _handle(self, command):
        """Apply and answer one command; returns a command that ended a drag it ran, if any.
        A command that fails gets an error reply (with its id) and changes nothing more: the
        session goes on with what it had, and the client gets the state to show it."""
        try:
            reply = self._apply(command)
        except ConnectionClosed:
            raise
        except Exception as exc:
            if not isinstance(exc, INPUT_ERRORS):
                log.exception("viewer command %s failed", command["type"])
            self._send(error_reply(command, exc))
            self._send_state()
            return self._take_follow_up()
        if reply is not _REPLIED:
            self._send({"type": "ok", "command": command["type"], **id_of(command), **reply})
        if command["type"] == "start":
            return self._drag(command.get("max_steps", self._settings.params["max_steps"]))
        return self._take_follow_up()

    def _apply(self, command):
        """Apply one command to the session; returns extra fields for the ok reply, or _REPLIED
        when the reply went out already (a file)."""
        kind = command["type"]
        session = self._session
        reply = {}
        if kind == "new_image":
            replaced = self._replaced.snapshot(self._settings.image, session)
            self._open_image(**{k: command[k] for k in command if k in self._settings.image})
            self._replaced.push(replaced)
        elif kind == "set_params":
            params = self._settings.params
            self._settings.set_params(session, {k: command[k] for k in command if k in params})
        elif kind == "add_point":
            if len(session.handles) >= MAX_POINTS:
                raise ValueError(f"a session holds at most {MAX_POINTS} points")
            reply["index"] = session.add_point(handle=command["handle"], target=command["target"])
        elif kind == "set_point":
            self._set_point(command["index"], command.get("handle"), command.get("target"))
        elif kind == "remove_point":
            self._check_index(command["index"])
            session.remove_point(command["index"])
        elif kind == "clear_points":
            session.clear_points()
        elif kind == "set_mask":
            session.set_mask(decode_mask(command, self._settings.image_size()))
        elif kind == "clear_mask":
            session.clear_mask()
        elif kind == "undo":
            reply["undone"] = "drag" if session.undo() else self._undo_new_image()
        elif kind == "reset_image":
            session.reset()
            self._recording.clear()
        elif kind == "save_session":
            name, data, mime = session_files.dump(session)
            self._send_file(command, name, data, mime)
            return _REPLIED
        elif kind == "load_session":
            replaced = self._replaced.snapshot(self._settings.image, session)
            self._session = session_files.load(command["payload"], self._settings.generator())
            self._replaced.push(replaced)
            self._recording.clear()
            self._send_mask()
        elif kind == "open_photo":
            reply = self._open_photo(command)
        elif kind in EXPORTS:
            self._send_file(command, *self._recording.export(kind, command.get("fps", 10)))
            return _REPLIED
        elif kind == "start" and len(session.handles) == 0:
            raise ValueError("no points to drag: place a handle and its target first")
        if kind in ("new_image", "undo", "reset_image", "load_session", "open_photo", "render"):
            self._send_frame(self._session.image())
        if kind not in ("render", "start", "stop"):
            self._send_state()
        return reply

    def _drag(self, max_steps):
        """Steps until done, max_steps, a stop or a command that ends the drag: one
        `session.run`, so one undo takes the whole drag back.

        Returns that command when it still has to be applied (anything but stop), else None.
        """
        ending = self._apply_pending()
        if ending is not None:
            return ending
        self.dragging = True
        self._send_state()
        outcome = {"ending": None, "steps": 0, "done": False, "image": True, "no_points": False}
        clock = [time.perf_counter()]

        def between_steps(result):
            result.materialize()  # a fast backend's step ends when its results reach the host
            self._step_timing.record(time.perf_counter() - clock[0])
            outcome["steps"] += 1
            outcome["done"], outcome["image"] = result.done, result.image is not None
            self._send_step(result)
            outcome["ending"] = self._apply_pending()
            outcome["no_points"] = len(self._session.handles) == 0  # all removed meanwhile
            clock[0] = time.perf_counter()
            return outcome["ending"] is None and not outcome["no_points"]

        failure = None
        session, scheduler = self._session, None
        if self._max_batch > 1:
            scheduler = shared_scheduler(session.device, self._max_batch, self._batch_memory)
        try:
            session.run(
                max_steps=max_steps, until_done=True, callback=between_steps,
                render_every=self._settings.params["render_every"],
                stepper=None if scheduler is None else scheduler.step,
            )  # fmt: skip
            if outcome["steps"] and not (outcome["done"] and outcome["image"]):
                # Step images show w before each update: show (and record) where it ended.
                image = self._session.image()
                self._recording.add(image)
                self._send_frame(image)
        except ConnectionClosed:
            raise
        except Exception as exc:  # e.g. out of memory: the session stays usable
            if not isinstance(exc, (*INPUT_ERRORS, RuntimeError)):
                log.exception("viewer drag failed")
            failure = exc
            message = f"drag failed: {describe_error(exc)}"
            self._send({"type": "error", "command": "start", "message": message})
        finally:
            self.dragging = False
            if scheduler is not None:
                scheduler.finished(session)
        ending = outcome["ending"]
        stopped = ending is not None or outcome["no_points"]
        reason = "done" if outcome["done"] else "stopped" if stopped else "max_steps"
        reason = "error" if failure is not None else reason
        self._send({"type": "stopped", "reason": reason, "steps": outcome["steps"]})
        self._send_state()
        if ending is not None and ending["type"] == "stop":
            self._send({"type": "ok", "command": "stop", **id_of(ending)})
            return None
        return ending

    def _apply_pending(self):
        """Apply the queued commands; return the first one that ends the drag (unapplied)."""
        while True:
            try:
                command = self._take(wait=False)
            except queue.Empty:
                return None
            if command["type"] in _ENDS_DRAG:
                return command
            self._handle(command)

    def _open_image(self, **changes):
        self._session = self._settings.new_session(**changes)
        self._recording.clear()

    def _open_photo(self, command):
        """Invert the uploaded photo (draggan_fast/viewer/photo_opening.py) into the current
        model and drag it from there; Undo brings back the image it replaced. A cancelling
        command is applied next; the session stays as it was."""
        replaced = self._replaced.snapshot(self._settings.image, self._session)
        previewed = []

        def on_progress(step):
            self._send(photo_opening.progress_event(step), latest_key="photo_progress")
            if photo_opening.wants_frame(step):
                info = {"stage": step.stage, "step": step.step, "total": step.total}
                self._send_frame(step.image, {"photo": info})
                previewed.append(True)

        try:
            inversion = photo_opening.invert_upload(
                command, self._settings.generator(), poll=self._poll_photo, on_progress=on_progress
            )
        except Exception as exc:  # cancelled, or failed midway: the session stays as it was
            if previewed:
                self._send_frame(self._session.image())  # the image the previews covered
            if isinstance(exc, photo_opening.PhotoCancelled):
                self._follow_up = exc.command
                raise ValueError(str(exc)) from None
            raise
        self._session = self._settings.photo_session(inversion.generator, inversion.w)
        self._replaced.push(replaced)
        self._recording.clear()
        return photo_opening.metrics_reply(inversion)

    def _poll_photo(self):
        """Between two inversion steps: a command of ENDS_PHOTO cancels it, others are refused."""
        while True:
            try:
                command = self._take(wait=False)
            except queue.Empty:
                return
            if command["type"] in photo_opening.ENDS_PHOTO:
                raise photo_opening.PhotoCancelled(command)
            busy = ValueError("busy opening a photo: wait for it, or send stop to cancel it")
            self._send(error_reply(command, busy))

    def _take_follow_up(self):
        command, self._follow_up = self._follow_up, None
        return command

    def _undo_new_image(self):
        """Back to the image before the last new_image / load_session, as it was then (w,
        points, mask), under the current parameters. Returns "image", or None when none."""
        restored = self._replaced.pop(self._registry.get)
        if restored is None:
            return None
        image, self._session = restored
        self._settings.restore(image, self._session)
        self._recording.clear()
        self._send_mask()
        return "image"

    def _set_point(self, index, handle, target):
        self._check_index(index)
        if handle is not None:
            self._session.set_handle(index, handle)
        if target is not None:
            self._session.set_target(index, target)

    def _check_index(self, index):
        count = len(self._session.handles)
        if not 0 <= index < count:
            raise IndexError(f"no point {index}: the session has {count} point(s)")

    # Messages out (built by session_events.py).

    def _send(self, event, latest_key=None):
        self._post(json.dumps(event), latest_key)

    def _send_file(self, command, name, data, mime):
        self._post(session_events.file_message(command, name, data, mime), None)

    def _send_mask(self):
        message = session_events.mask_message(self._session)
        if message is not None:
            self._post(message, None)

    def _send_step(self, result):
        progress = session_events.step_progress(result, self._step_timing)
        if result.image is None:
            self._send({"type": "progress", **progress}, latest_key="progress")
            return
        self._recording.add(result.image)
        self._send_frame(result.image, progress)

    def _send_frame(self, image, progress=None):
        """image: uint8 [H, W, 3]. Without progress, the frame carries the session's points."""
        self._frame_seq += 1
        if progress is None:
            progress = session_events.session_progress(self._session, self._step_timing)
        message = session_events.frame_message(self._frame_seq, image, self.dragging, progress)
        self._post(message, "frame")

    def _send_state(self):
        state = session_events.state_event(
            self._session, image=self._settings.image, params=self._settings.params,
            models=self._registry.names, size=self._settings.image_size(), running=self.dragging,
        )  # fmt: skip
        self._send(state)
