"""A Python client of the Ray app's HTTP JSON protocol that rides out a replica failure.

    client = ServeClient("http://127.0.0.1:8000")       # a new session id
    client.open(seed=3)
    client.add_point(handle=(30, 20), target=(40, 20))
    client.start(max_steps=100)
    state = client.wait_until_stopped()

Every request carries the session id in the `serve_multiplexed_model_id` header (sticky
routing). A request that fails because a replica died (a connection error, HTTP 5xx, or 503
while the dead replica's lease lapses) is retried with backoff for up to `reconnect_s`
seconds: the next replica to get it restores the session from its last checkpoint and resumes
its drag, so the client reconnects without user action. `reconnects` counts those retries.
4xx answers are the caller's mistakes: ServeError with the server's message.
"""

import json
import time
import urllib.error
import urllib.request
import uuid

SESSION_HEADER = "serve_multiplexed_model_id"


class ServeError(RuntimeError):
    """The server refused a request (HTTP status in `.status`)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class ServeClient:
    def __init__(self, url: str, session_id: str | None = None, reconnect_s: float = 60.0,
                 timeout_s: float = 30.0):  # fmt: skip
        self.url = url.rstrip("/")
        self.session_id = session_id or uuid.uuid4().hex
        self.reconnect_s, self.timeout_s = reconnect_s, timeout_s
        self.reconnects = 0

    def _request(self, method: str, path: str, body: dict | None = None) -> "dict | bytes":
        data = None if body is None else json.dumps(body).encode()
        headers = {SESSION_HEADER: self.session_id, "Content-Type": "application/json"}
        deadline = time.monotonic() + self.reconnect_s
        delay = 0.1
        while True:
            request = urllib.request.Request(
                f"{self.url}/sessions/{self.session_id}{path}", data, headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    payload = response.read()
                    if response.headers.get_content_type() == "application/json":
                        return json.loads(payload)
                    return payload
            except urllib.error.HTTPError as error:
                message = _detail(error.read())
                if error.code < 500:
                    raise ServeError(error.code, message) from None
                failure = ServeError(error.code, message)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                failure = error
            if time.monotonic() + delay > deadline:
                raise ConnectionError(f"no replica answered in {self.reconnect_s} s: {failure}")
            self.reconnects += 1
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    # The session.

    def open(self, **image) -> dict:
        """Open the session (seed, truncation_psi, latent_space); returns its state."""
        return self._request("POST", "/open", image)

    def command(self, command: dict) -> dict:
        """One viewer-protocol command -> {"type": "ok", ..., "state": {...}}."""
        return self._request("POST", "/command", command)

    def state(self) -> dict:
        return self._request("GET", "/state")

    def image_png(self) -> bytes:
        return self._request("GET", "/image")

    def close(self) -> dict:
        return self._request("DELETE", "")

    def add_point(self, handle, target) -> int:
        reply = self.command({"type": "add_point", "handle": list(handle), "target": list(target)})
        return reply["index"]

    def set_params(self, **params) -> dict:
        return self.command({"type": "set_params", **params})

    def start(self, max_steps: int | None = None) -> dict:
        extra = {} if max_steps is None else {"max_steps": max_steps}
        return self.command({"type": "start", **extra})

    def stop(self) -> dict:
        return self.command({"type": "stop"})

    def wait_until_stopped(self, timeout_s: float = 300.0, poll_s: float = 0.1) -> dict:
        """Poll the state until no drag runs (across a failover too); returns that state."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state()
            if not state["running"]:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"the drag still runs after {timeout_s} s")
            time.sleep(poll_s)


def _detail(body: bytes) -> str:
    """FastAPI's {"detail": ...} error body -> its message."""
    try:
        return str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")[:200]
