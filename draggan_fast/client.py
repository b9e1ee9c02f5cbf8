"""A small synchronous Python client of the viewer protocol (docs/protocol.md).

    with ViewerClient("http://127.0.0.1:7860") as client:
        client.add_point(handle=(30, 20), target=(40, 20))
        client.start(max_steps=50)
        for message in client.messages(timeout=60):
            if message.type == "frame":
                print(message.step, message.distances)
            elif message.type == "stopped":
                break

Messages arrive on a background thread (its own asyncio loop) and wait in order until read,
as `Event` (JSON events: a dict with `.type`), `Frame` (an image with its metadata) or `File`.
"""

import asyncio
import collections
import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from draggan_fast.viewer.protocol import pack_envelope, unpack_envelope


class ViewerError(RuntimeError):
    """The server answered a command with an error event (kept in `.event`)."""

    def __init__(self, event):
        super().__init__(event.get("message", "error"))
        self.event = event


class Event(dict):
    """A JSON event from the server, e.g. {"type": "ok", "id": 3, "command": "add_point"}."""

    @property
    def type(self) -> str:
        return self["type"]


@dataclass
class Frame:
    header: dict
    image: np.ndarray  # uint8 [H, W, 3]
    type: str = "frame"

    def __getattr__(self, name):  # header fields: step, handles, targets, distances, ...
        try:
            return self.__dict__["header"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class File:
    """A file the client asked for (type "file"; header name, mime, command, id) or the
    session's mask after a load (type "mask"; header width, height; data uint8 [H, W])."""

    header: dict
    data: bytes
    type: str = "file"


def _decode(message) -> "Event | Frame | File":
    if isinstance(message, str):
        return Event(json.loads(message))
    header, payload = unpack_envelope(message)
    if header.get("kind") == "frame":
        shape = (header["height"], header["width"], header["channels"])
        return Frame(header, np.frombuffer(payload, dtype=np.uint8).reshape(shape).copy())
    return File(header, bytes(payload), type=header.get("kind", "file"))


class ViewerClient:
    def __init__(self, url: str, timeout: float = 60.0, origin: str | None = None):
        """url: the server, http://host:port; origin: an Origin header to send (browsers do)."""
        self.url = url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self.timeout = timeout
        self._origin = origin
        self._incoming = queue.Queue()
        self._backlog = collections.deque()  # read while waiting for a reply, not yet consumed
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._http = None
        self._websocket = None
        self.close_code = None

    # Connection.

    def connect(self):
        """Open the WebSocket (once; `with` calls this too)."""
        if self._websocket is not None:
            return self
        self._thread.start()
        try:
            self._call(self._connect())
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            raise
        return self

    async def _connect(self):
        import aiohttp

        self._http = aiohttp.ClientSession()
        headers = {"Origin": self._origin} if self._origin else None
        try:
            self._websocket = await self._http.ws_connect(
                f"{self.url}/ws", max_msg_size=0, headers=headers
            )
        except Exception:
            await self._http.close()
            raise
        self._loop.create_task(self._receive())

    async def _receive(self):
        import aiohttp

        async for message in self._websocket:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                try:
                    decoded = _decode(message.data)
                except Exception as exc:  # say so, and go on reading: never a silent hang
                    decoded = Event(
                        type="error", message=f"unreadable message from the server: {exc}"
                    )
                self._incoming.put(decoded)
        self.close_code = self._websocket.close_code
        self._incoming.put(None)

    def close(self):
        if self._thread.is_alive():
            if self._http is not None:
                self._call(self._disconnect())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _disconnect(self):
        if self._websocket is not None:
            await self._websocket.close()
        await self._http.close()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc_info):
        self.close()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self.timeout)

    # Sending.

    def send(self, command: dict, payload: bytes | None = None) -> int:
        """Send one command (adds an "id" when it has none); returns its id. A payload makes it
        a binary message (the DGF1 envelope)."""
        command = dict(command)
        command.setdefault("id", next(self._ids))
        if payload is None:
            self.send_raw(json.dumps(command))
        else:
            self.send_raw(pack_envelope(command, payload))
        return command["id"]

    def send_raw(self, data: "str | bytes"):
        """Send a text (str) or binary (bytes) message as is (tests of malformed input)."""
        if isinstance(data, str):
            self._call(self._websocket.send_str(data))
        else:
            self._call(self._websocket.send_bytes(data))

    def request(self, command: dict, payload: bytes | None = None):
        """Send a command and wait for its reply (an ok Event or a File); ViewerError on error.
        Other messages that arrive meanwhile stay queued for `next_message`."""
        return self._exchange(command, payload)[0]

    def _exchange(self, command, payload=None, collect=None):
        """(reply, the last message of type `collect` that came before the reply)."""
        request_id = self.send(command, payload)
        deadline = time.monotonic() + self.timeout
        skipped, collected = [], None
        try:
            while True:
                message = self._get(deadline)
                reply_id = message.header.get("id") if isinstance(message, File) else None
                if isinstance(message, Event):
                    reply_id = message.get("id")
                if reply_id == request_id and message.type in ("ok", "error", "file"):
                    if message.type == "error":
                        raise ViewerError(message)
                    return message, collected
                if message.type == collect:
                    if collected is not None:
                        skipped.append(collected)
                    collected = message  # handed to the caller, not queued
                else:
                    skipped.append(message)
        finally:
            self._backlog.extend(skipped)

    # Receiving.

    def _get(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message from the viewer server in time")
        try:
            message = self._incoming.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError("no message from the viewer server in time") from None
        if message is None:
            self._incoming.put(None)  # stay closed for the next reader
            raise ConnectionError(f"the server closed the connection (code {self.close_code})")
        return message

    def next_message(self, timeout: float | None = None):
        """The next message in arrival order (TimeoutError, or ConnectionError once closed)."""
        if self._backlog:
            return self._backlog.popleft()
        return self._get(time.monotonic() + (self.timeout if timeout is None else timeout))

    def discard_pending(self):
        """Forget the messages received and not yet read. After a request returns, that is
        everything the server sent before its reply (a WebSocket keeps the order)."""
        self._backlog.clear()
        while True:
            try:
                message = self._incoming.get_nowait()
            except queue.Empty:
                return
            if message is None:
                self._incoming.put(None)
                return

    def messages(self, timeout: float | None = None):
        """Iterate over incoming messages, each awaited up to `timeout` seconds."""
        while True:
            yield self.next_message(timeout)

    def wait_for(self, kind: str, predicate=None, timeout: float | None = None):
        """Read messages until one of type `kind` (matching `predicate`) arrives; return it.
        The messages read before it are discarded."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self.next_message(max(deadline - time.monotonic(), 1e-3))
            if message.type == kind and (predicate is None or predicate(message)):
                return message

    # Commands (docs/protocol.md lists their fields).

    def new_image(self, **fields):
        return self.request({"type": "new_image", **fields})

    def set_params(self, **fields):
        return self.request({"type": "set_params", **fields})

    def add_point(self, handle, target) -> int:
        reply = self.request({"type": "add_point", "handle": list(handle), "target": list(target)})
        return reply["index"]

    def set_point(self, index, handle=None, target=None):
        fields = {"handle": handle, "target": target}
        fields = {k: list(v) for k, v in fields.items() if v is not None}
        return self.request({"type": "set_point", "index": index, **fields})

    def remove_point(self, index):
        return self.request({"type": "remove_point", "index": index})

    def clear_points(self):
        return self.request({"type": "clear_points"})

    def set_mask(self, movable_mask):
        """movable_mask: [H, W] array, true/nonzero where the image may change."""
        mask = (np.asarray(movable_mask) != 0).astype(np.uint8)
        height, width = mask.shape
        command = {"type": "set_mask", "width": width, "height": height}
        return self.request(command, mask.tobytes())

    def clear_mask(self):
        return self.request({"type": "clear_mask"})

    def start(self, max_steps: int | None = None):
        extra = {} if max_steps is None else {"max_steps": max_steps}
        return self.request({"type": "start", **extra})

    def stop(self):
        return self.request({"type": "stop"})

    def undo(self):
        return self.request({"type": "undo"})

    def reset_image(self):
        return self.request({"type": "reset_image"})

    def render(self) -> Frame:
        """The image of the session's current latent."""
        return self._exchange({"type": "render"}, collect="frame")[1]

    def get_state(self) -> Event:
        """The session's state event: points, settings, parameters, running, step."""
        return self._exchange({"type": "get_state"}, collect="state")[1]

    def save_session(self) -> File:
        return self.request({"type": "save_session"})

    def load_session(self, data: bytes, name: str = "session"):
        return self.request({"type": "load_session", "name": name}, data)

    def open_photo(self, data: bytes, name: str = "photo.png", **fields):
        """Upload a photo (the bytes of an image file) to invert and then drag; waits for the
        ok reply (its PSNR and timing fields). photo_progress events and preview frames arrive
        meanwhile (read them with next_message). fields: steps, tuning_steps."""
        return self.request({"type": "open_photo", "name": name, **fields}, data)

    def export_gif(self, fps: int = 10) -> bytes:
        return self.request({"type": "export_gif", "fps": fps}).data

    def export_mp4(self, fps: int = 10) -> bytes:
        """The drag as an H.264 MP4 (the server needs imageio-ffmpeg: else a ViewerError)."""
        return self.request({"type": "export_mp4", "fps": fps}).data
