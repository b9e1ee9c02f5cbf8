"""The commands of one connection, from the event loop to its SessionWorker's thread.

The event loop puts each validated command here; the worker thread takes them in order. A
client may queue MAX_QUEUED_COMMANDS commands (MAX_QUEUED_BYTES of payloads: masks, uploaded
sessions and photos) before `full` says to stop reading its messages: a flood then waits in
the client's socket (back-pressure), not in this process. Once the connection has gone
(`close`), what is queued is dropped and `take` raises ConnectionClosed.
"""

import queue
import threading

MAX_QUEUED_COMMANDS = 64
MAX_QUEUED_BYTES = 32 * 1024 * 1024  # of payloads


class ConnectionClosed(Exception):
    """The connection went away: the worker thread leaves."""


class CommandQueue:
    def __init__(self):
        self._commands = queue.Queue()
        self._queued_bytes = 0  # payload bytes of the queued commands
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def put(self, command: dict):
        """Queue a command (from the event loop)."""
        with self._lock:
            self._queued_bytes += len(command.get("payload", b""))
        self._commands.put(command)

    def qsize(self) -> int:
        return self._commands.qsize()

    @property
    def full(self) -> bool:
        """True while the client should wait: too many commands or payload bytes queued."""
        too_many = self._commands.qsize() >= MAX_QUEUED_COMMANDS
        return too_many or self._queued_bytes >= MAX_QUEUED_BYTES

    def close(self):
        """The connection went away: the next `take` raises ConnectionClosed."""
        self._closed.set()
        self._commands.put(None)

    def take(self, wait: bool) -> dict:
        """The next command (queue.Empty when none is queued and not `wait`); ConnectionClosed
        once the connection has gone."""
        command = self._commands.get() if wait else self._commands.get_nowait()
        if command is None or self._closed.is_set():
            raise ConnectionClosed
        with self._lock:
            self._queued_bytes -= len(command.get("payload", b""))
        return command
