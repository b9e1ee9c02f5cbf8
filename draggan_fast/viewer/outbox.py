"""Outgoing messages of one connection: in order, except that frames are latest-wins.

The session's worker thread posts messages without ever waiting on the network. A message with
a `latest_key` (frames, progress) replaces an unsent one with the same key, so a slow client
drops frames and never stalls the engine; every other message (replies, errors, events) is kept
and sent in order. A client that stops reading while commands keep coming is disconnected once
`max_pending` kept messages, or more than one holding over `max_pending_bytes`, wait.
"""

import asyncio
import collections
import logging

log = logging.getLogger(__name__)


class _CloseRequest:
    """Queued after the last message: close the connection with this code once it is sent."""

    def __init__(self, code: int, reason: str):
        self.code, self.reason = code, reason


class Outbox:
    def __init__(
        self, websocket, loop: asyncio.AbstractEventLoop, max_pending: int = 256,
        max_pending_bytes: int = 64 * 1024 * 1024,
    ):  # fmt: skip
        self._websocket = websocket
        self._loop = loop
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._pending = collections.deque()  # (latest_key or None, str | bytes)
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0  # latest-wins messages replaced before they were sent

    def post(self, data, latest_key=None):
        """Queue a message (str: text, bytes: binary). Call on the event loop."""
        if self._closed:
            return
        if latest_key is not None:
            for queued in self._pending:
                if queued[0] == latest_key:
                    self._pending.remove(queued)
                    self.dropped += 1
                    break
        self._pending.append((latest_key, data))
        kept = [data for key, data in self._pending if key is None]
        kept_bytes = sum(len(data) for data in kept if isinstance(data, (str, bytes)))
        if len(kept) > self._max_pending or (
            len(kept) > 1 and kept_bytes > self._max_pending_bytes
        ):
            log.warning("closing a connection whose client stopped reading")
            self._closed = True
            self._pending.clear()
            self._loop.create_task(self._websocket.close(code=1008, message=b"client not reading"))
        self._wakeup.set()

    def close_after_pending(self, code: int, reason: str):
        """Send what is queued, then close the connection with `code`. Call on the event loop."""
        self.post(_CloseRequest(code, reason))

    def close_after_pending_threadsafe(self, code: int, reason: str):
        try:
            self._loop.call_soon_threadsafe(self.close_after_pending, code, reason)
        except RuntimeError:
            pass

    def post_threadsafe(self, data, latest_key=None):
        """Queue a message from any thread; a no-op once the event loop has closed."""
        try:
            self._loop.call_soon_threadsafe(self.post, data, latest_key)
        except RuntimeError:
            pass

    async def run(self):
        """Send queued messages until the connection closes or `close()` is called."""
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending and not self._closed:
                _, data = self._pending.popleft()
                if self._websocket.closed:
                    return
                try:
                    if isinstance(data, _CloseRequest):
                        await self._websocket.close(code=data.code, message=data.reason.encode())
                        return
                    if isinstance(data, str):
                        await self._websocket.send_str(data)
                    else:
                        await self._websocket.send_bytes(data)
                except ConnectionError:
                    return

    def close(self):
        self._closed = True
        self._pending.clear()
        self._wakeup.set()
