"""The viewer's web server: the page, its static files and one WebSocket per drag session.

aiohttp, one process, one asyncio loop: every connection gets a SessionWorker (its own thread,
its own DragSession) and an Outbox (latest-wins frames), so a slow or busy session never holds
up another. Requests are checked before anything else happens: the Host header (when serving on
loopback, against DNS rebinding), the Origin of WebSocket requests, the number of sessions, the
message sizes and rate, then every command's fields (protocol.py). Idle sessions expire (saved
first to `save_dir` when one is set); GET /healthz reports the sessions and their memory.
"""

import asyncio
import ctypes
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from draggan_fast.viewer.accounting import held_bytes
from draggan_fast.viewer.outbox import Outbox
from draggan_fast.viewer.protocol import (
    MAX_POINTS,
    PROTOCOL_VERSION,
    ProtocolError,
    parse_binary_message,
    parse_text_message,
)
from draggan_fast.viewer.worker import SessionWorker

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass
class ViewerConfig:
    host: str = "127.0.0.1"
    max_sessions: int = 4
    idle_timeout_s: float = 900.0  # no message and no drag running for this long: expire
    save_dir: str | None = None  # expiring sessions are saved in <save_dir>/<session id>/
    max_commands_per_s: float = 50.0  # per connection; beyond it the server stops reading it
    command_burst: int = 100  # commands a connection may send at once before the rate applies
    max_message_bytes: int = 8 * 1024 * 1024  # any message; larger closes with code 1009
    max_text_bytes: int = 64 * 1024  # a JSON command; larger gets an error reply
    allowed_origins: tuple = ()  # extra Origins allowed besides the page's own
    session_options: dict = field(default_factory=dict)  # DragSession keyword defaults

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS


_REGISTRY = web.AppKey("registry", object)
_CONFIG = web.AppKey("config", ViewerConfig)
_SESSIONS = web.AppKey("sessions", set)
_CONNECTIONS = web.AppKey("connections", dict)  # session id -> _Connection


@dataclass
class _Connection:
    worker: SessionWorker
    opened: float = field(default_factory=time.monotonic)
    last_message: float = field(default_factory=time.monotonic)


def create_app(registry, config: ViewerConfig | None = None) -> web.Application:
    """The aiohttp application serving `registry`'s models under `config`'s limits."""
    config = config or ViewerConfig()
    app = web.Application(middlewares=[_guard_host], client_max_size=config.max_message_bytes)
    app[_REGISTRY] = registry
    app[_CONFIG] = config
    app[_SESSIONS] = set()
    app[_CONNECTIONS] = {}
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/ws", _websocket)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_sessions)
    return app


def page_url(host: str, port: int) -> str:
    """The page's address on a server listening on (host, port); a wildcard host (all
    interfaces) is reached through loopback."""
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _hostname(netloc: str) -> str:
    return (urlsplit(f"//{netloc}").hostname or "").lower()


@web.middleware
async def _guard_host(request, handler):
    config = request.app[_CONFIG]
    allowed = LOOPBACK_HOSTS | {_hostname(urlsplit(o).netloc) for o in config.allowed_origins}
    if config.loopback and _hostname(request.host) not in allowed:
        raise web.HTTPForbidden(text=f"host {request.host!r} is not served here\n")
    return await handler(request)


async def _security_headers(request, response):
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")


async def _index(request):
    return web.FileResponse(STATIC_DIR / "index.html")


def _origin_allowed(request) -> bool:
    """Browsers always send Origin on WebSocket requests: it must be the page's own (or one
    allowed at start). Non-browser clients send none and are not the threat this guards."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = {f"http://{request.host}", f"https://{request.host}"}
    return origin in own or origin in request.app[_CONFIG].allowed_origins


async def _websocket(request):
    config = request.app[_CONFIG]
    if not _origin_allowed(request):
        log.warning("refused a WebSocket from origin %s", request.headers.get("Origin"))
        raise web.HTTPForbidden(text="cross-origin WebSocket refused\n")
    websocket = web.WebSocketResponse(max_msg_size=config.max_message_bytes, heartbeat=30.0)
    await websocket.prepare(request)
    sessions = request.app[_SESSIONS]
    if len(sessions) >= config.max_sessions:
        message = f"the server is full ({config.max_sessions} sessions); try again later"
        await websocket.send_str(json.dumps({"type": "error", "message": message}))
        await websocket.close(code=1013, message=b"server full")
        return websocket
    loop = asyncio.get_running_loop()
    outbox = Outbox(websocket, loop)
    worker = SessionWorker(
        request.app[_REGISTRY], config.session_options, outbox.post_threadsafe,
        outbox.close_after_pending_threadsafe,
    )  # fmt: skip
    session_id = uuid.uuid4().hex
    connection = _Connection(worker)
    sessions.add(websocket)
    request.app[_CONNECTIONS][session_id] = connection
    outbox.post(json.dumps({**_hello(request.app[_REGISTRY], config), "session": session_id}))
    sender = loop.create_task(outbox.run())
    worker.start()
    try:
        expired = await _receive_commands(websocket, connection, outbox, config)
        if expired:
            await _expire(session_id, worker, outbox, config)
            await sender
    finally:
        sessions.discard(websocket)
        request.app[_CONNECTIONS].pop(session_id, None)
        worker.close()
        await loop.run_in_executor(None, worker.join)
        outbox.close()
        await sender
        if not websocket.closed:
            await websocket.close()
        await loop.run_in_executor(None, _return_freed_memory)
    return websocket


async def _expire(session_id, worker, outbox, config):
    """Idle: save the session (when the server has a save directory), say so, close (1001)."""
    if config.save_dir is not None:
        worker.save_on_close = Path(config.save_dir) / session_id / "session.json"
    worker.close()
    await asyncio.get_running_loop().run_in_executor(None, worker.join)
    event = {"type": "expired", "session": session_id, "idle_timeout_s": config.idle_timeout_s}
    event["saved"] = worker.saved
    outbox.post(json.dumps(event))
    outbox.close_after_pending(1001, "idle timeout")


async def _healthz(request):
    """GET /healthz: the sessions, each with its memory (tensor and array bytes), and the
    process's resident size. JSON."""
    connections = dict(request.app[_CONNECTIONS])
    loop = asyncio.get_running_loop()
    now = time.monotonic()
    sessions = []
    for session_id, connection in connections.items():
        worker = connection.worker
        memory = await loop.run_in_executor(None, held_bytes, worker)
        sessions.append({
            "session": session_id, "memory_bytes": memory, "dragging": worker.dragging,
            "steps": worker.step_count, "idle_s": round(now - connection.last_message, 3),
            "age_s": round(now - connection.opened, 3),
        })  # fmt: skip
    config = request.app[_CONFIG]
    report = {
        "status": "ok", "sessions": len(sessions), "max_sessions": config.max_sessions,
        "session_memory_bytes": sum(s["memory_bytes"] or 0 for s in sessions),
        "process_rss_bytes": _resident_bytes(), "per_session": sessions,
    }  # fmt: skip
    return web.json_response(report)


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _return_freed_memory():
    """Hand the heap pages a closed session freed back to the OS. glibc keeps them in the
    session thread's malloc arena otherwise, and the server's size creeps up with every new
    session until each arena has held the largest one (25 connect/flood/disconnect cycles on a
    64-px model: 707 -> 731 MB without this, 707 -> 716 MB with it)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _hello(registry, config) -> dict:
    from draggan_fast import __version__

    return {
        "type": "hello", "protocol": PROTOCOL_VERSION, "server": f"draggan-fast {__version__}",
        "models": registry.names,
        "limits": {
            "max_message_bytes": config.max_message_bytes,
            "max_text_bytes": config.max_text_bytes, "idle_timeout_s": config.idle_timeout_s,
            "max_points": MAX_POINTS,
        },
    }  # fmt: skip


class _CommandRate:
    """A token bucket: `burst` commands at once, then `per_s` a second. `wait()` is how long
    the next command must wait (0: it may go now, and it took its token)."""

    def __init__(self, per_s: float, burst: int):
        self._per_s, self._burst = per_s, float(burst)
        self._tokens, self._time = float(burst), time.monotonic()

    def wait(self) -> float:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._time) * self._per_s)
        self._time = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._per_s


async def _receive_commands(websocket, connection, outbox, config) -> bool:
    """Read, check and queue the connection's commands until it closes; True when it went idle
    (no message for idle_timeout_s while no drag ran) and must expire."""
    worker = connection.worker
    rate = _CommandRate(config.max_commands_per_s, config.command_burst)
    while True:
        try:
            message = await websocket.receive(timeout=config.idle_timeout_s)
        except asyncio.TimeoutError:
            if worker.dragging:
                continue
            return True
        connection.last_message = time.monotonic()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return False
        if message.type == WSMsgType.ERROR:  # e.g. a message over max_message_bytes (1009)
            log.info("WebSocket closed: %s", websocket.exception())
            return False
        while (delay := rate.wait()) > 0:  # a flood waits in the client's socket
            await asyncio.sleep(delay)
        try:
            command = _read_command(message, config)
        except ProtocolError as exc:
            outbox.post(json.dumps(_error_event(exc)))
            continue
        except Exception as exc:  # a bug in the checks must not end the session
            log.exception("could not read a message")
            outbox.post(
                json.dumps({"type": "error", "message": f"could not read the message: {exc}"})
            )
            continue
        if command is None:
            continue
        worker.submit(command)
        while worker.busy and not websocket.closed:  # back-pressure on a flood
            await asyncio.sleep(0.01)


def _read_command(message, config):
    """A TEXT or BINARY WebSocket message -> a validated command (None for other kinds)."""
    if message.type == WSMsgType.TEXT:
        size = len(message.data.encode())
        if size > config.max_text_bytes:
            raise ProtocolError(
                f"text message of {size} bytes exceeds the limit of {config.max_text_bytes} bytes"
            )
        return parse_text_message(message.data)
    if message.type == WSMsgType.BINARY:
        return parse_binary_message(message.data)
    return None


def _error_event(exc: ProtocolError) -> dict:
    """The error reply to an invalid message, with the command type and id when readable."""
    event = {"type": "error", "message": str(exc)}
    for key, value in (("field", exc.field), ("command", exc.command), ("id", exc.request_id)):
        if value is not None:
            event[key] = value
    return event


async def _close_sessions(app):
    for websocket in list(app[_SESSIONS]):
        await websocket.close(code=1001, message=b"server shutting down")


class BackgroundServer:
    """The viewer served from a thread of its own (tests, notebooks, embedding).

    `with BackgroundServer(registry, config, port=0) as server:` then `server.url`.
    """

    def __init__(self, registry, config: ViewerConfig | None = None, port: int = 0):
        self.config = config or ViewerConfig()
        self._app = create_app(registry, self.config)
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = None
        self.port = None

    @property
    def url(self) -> str:
        return page_url(self.config.host, self.port)

    def start(self):
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=30)
        return self

    async def _start(self):
        self._runner = web.AppRunner(self._app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self._port)
        await site.start()
        return self._runner.addresses[0][1]

    def stop(self):
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(timeout=60)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
