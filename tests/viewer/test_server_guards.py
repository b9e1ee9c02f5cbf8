"""What the server refuses, against a real server on loopback: malformed and oversized
messages, foreign origins and hosts, too many sessions, idle connections, stray paths."""

import json
import time
import urllib.error
import urllib.request

import aiohttp
import numpy as np
import pytest

from draggan_fast.client import ViewerClient, ViewerError
from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.protocol import MAGIC, pack_envelope
from draggan_fast.viewer.server import BackgroundServer
from tests.viewer.conftest import IMAGE_SIZE, connect

MALFORMED = [
    ("not json", "not valid JSON", None),
    ("[1, 2]", "must be a JSON object", None),
    ('{"id": 1, "type": "fly"}', "unknown command type 'fly'", "type"),
    ('{"id": 2, "type": "add_point", "handle": [1, 2]}', "missing field 'target'", "target"),
    ('{"id": 3, "type": "add_point", "handle": [1], "target": [1, 2]}', "must be [x, y]", "handle"),
    ('{"id": 4, "type": "add_point", "handle": ["a", 2], "target": [1, 2]}', "must be a number",
     "handle[0]"),
    ('{"id": 5, "type": "add_point", "handle": [NaN, 2], "target": [1, 2]}', "must be finite",
     "handle[0]"),
    ('{"id": 6, "type": "remove_point", "index": true}', "must be a number", "index"),
    ('{"id": 7, "type": "remove_point", "index": 1.5}', "must be an integer", "index"),
    ('{"id": 8, "type": "set_params", "lr": 5}', "lr must be in (0, 1]", "lr"),
    ('{"id": 9, "type": "new_image", "seed": -1}', "seed must be in", "seed"),
    ('{"id": 10, "type": "clear_points", "extra": 1}', "unknown field(s) ['extra']", "extra"),
    ('{"id": 11, "type": "set_mask", "width": 64, "height": 64}', "binary message", "type"),
    ('{"id": {"a": 1}, "type": "get_state"}', "id must be", "id"),
    ('{"id": 12, "type": "set_point", "index": 0}', "needs a handle, a target", "handle"),
    (b"garbage bytes", "DGF1 envelope", None),
    (MAGIC + (10**6).to_bytes(4, "little") + b"{}", "header length", None),
    (pack_envelope({"type": "set_mask", "width": 2}), "missing field 'height'", "height"),
    (pack_envelope({"type": "get_state"}, b"x"), "must be sent as a text message", "type"),
]  # fmt: skip


def test_every_malformed_message_gets_an_error_and_the_session_goes_on(client):
    client.add_point((10, 10), (20, 20))
    for raw, message, field in MALFORMED:
        client.send_raw(raw)
        error = client.wait_for("error")
        assert message in error["message"], (raw, error)
        assert error.get("field") == field, (raw, error)
        if isinstance(raw, str) and raw.startswith('{"id": ') and '"id": {' not in raw:
            assert error["id"] == json.loads(raw.replace("NaN", "0"))["id"]
    state = client.get_state()  # still the same session
    assert state["points"] == [{"handle": [10.0, 10.0], "target": [20.0, 20.0]}]


def test_oversized_text_gets_an_error_and_oversized_binary_closes_with_1009(make_server):
    server = make_server(max_text_bytes=1024, max_message_bytes=64 * 1024)
    with connect(server) as client:
        client.send_raw(json.dumps({"type": "get_state", "id": "x" * 2000}))
        assert "exceeds the limit of 1024 bytes" in client.wait_for("error")["message"]
        assert client.get_state()["points"] == []
        client.send_raw(pack_envelope({"type": "load_session"}, bytes(100 * 1024)))
        with pytest.raises(ConnectionError):
            client.wait_for("never")
        assert client.close_code == 1009  # RFC 6455: message too big


def test_foreign_origins_are_refused_and_allowed_ones_accepted(make_server):
    server = make_server(allowed_origins=("http://tool.example",))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        ViewerClient(server.url, origin="http://evil.example").connect()
    assert refused.value.status == 403
    for origin in (server.url, "http://tool.example"):
        with connect(server, origin=origin) as client:
            assert client.get_state()["image"]["width"] == IMAGE_SIZE


def http_get(url, host=None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_loopback_server_refuses_foreign_host_names(server):
    port = server.port
    assert http_get(f"{server.url}/", host=f"localhost:{port}")[0] == 200
    status, _, body = http_get(f"{server.url}/", host=f"rebind.example:{port}")
    assert status == 403 and b"not served here" in body


def test_the_page_and_its_files_are_served_with_a_strict_policy(server):
    status, headers, body = http_get(f"{server.url}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert b'src="/static/app.js"' in body
    for name in ("app.js", "connection.js", "keyboard.js", "points.js", "mask.js", "viewer.css"):
        status, _, body = http_get(f"{server.url}/static/{name}")
        assert status == 200 and b"http://" not in body and b"https://" not in body
    assert http_get(f"{server.url}/static/%2e%2e/server.py")[0] in (403, 404)
    assert http_get(f"{server.url}/nothing-here")[0] == 404


def test_sessions_beyond_the_limit_are_told_and_closed(make_server):
    server = make_server(max_sessions=1)
    with connect(server) as first:
        with ViewerClient(server.url, timeout=30) as second:
            error = second.next_message()
            assert error.type == "error" and "server is full (1 sessions)" in error["message"]
            with pytest.raises(ConnectionError):
                second.next_message()
            assert second.close_code == 1013  # try again later
        assert first.get_state()["points"] == []
    with connect(server) as again:  # the slot is free once the first one left
        assert again.get_state()["running"] is False


def test_an_idle_connection_is_closed(make_server):
    server = make_server(idle_timeout_s=1.0)
    started = time.monotonic()
    with ViewerClient(server.url, timeout=60) as client:
        with pytest.raises(ConnectionError):
            for _ in client.messages():  # hello, state, the first frame, then nothing
                pass
        assert client.close_code == 1001 and time.monotonic() - started >= 1.0


def test_a_broken_model_file_is_an_error_not_a_crash(tmp_path, registry):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    mixed = ModelRegistry([broken], generators={"tiny": registry.get("tiny")})
    with BackgroundServer(mixed) as server, connect(server) as client:
        with pytest.raises(ViewerError, match=r"broken\.safetensors"):
            client.new_image(model="broken.safetensors")
        assert client.get_state()["model"] == "tiny"  # the session goes on
    with BackgroundServer(ModelRegistry([broken])) as server:
        with ViewerClient(server.url, timeout=60) as client:
            assert client.next_message().type == "hello"
            error = client.next_message()
            assert error["fatal"] and "session failed" in error["message"]
            with pytest.raises(ConnectionError):
                client.next_message()
            assert client.close_code == 1011


def test_errors_to_binary_commands_keep_their_id(server):
    """A client waiting for a binary command's reply gets the error, not its own timeout."""
    with ViewerClient(server.url, timeout=20) as client:
        client.wait_for("frame")
        with pytest.raises(ViewerError, match="height must be in") as mask:
            client.set_mask(np.ones((4097, 1)))
        assert mask.value.event["command"] == "set_mask" and mask.value.event["field"] == "height"
        with pytest.raises(ViewerError, match=r"name must be a string of 1\.\.200"):
            client.load_session(b"PK", name="x" * 300)
        header = {"type": "set_mask", "width": -64, "height": 64, "id": 13}
        client.send_raw(pack_envelope(header, bytes(64)))
        error = client.wait_for("error")
        assert error["id"] == 13 and "width must be in" in error["message"]
        assert client.get_state()["points"] == []


DEEP = "[" * 2000 + "]" * 2000
HUGE = "9" * 5000
UNREADABLE = [
    (DEEP, "nested too deeply"),
    ('{"type": "new_image", "id": 1, "seed": ' + HUGE + "}", "is not valid JSON"),
    ('{"type": "new_image", "id": 2, "seed": ' + HUGE[:4000] + "}", "seed must be in"),
    ('{"type": "get_state", "id": ' + HUGE[:4000] + "}", "id must be an integer"),
    ('{"type": ["get_state"], "id": 3}', "unknown command type"),
    (pack_envelope({"type": "set_mask"})[:8] + DEEP.encode(), "nested too deeply"),
]


@pytest.mark.parametrize("raw, message", UNREADABLE, ids=range(len(UNREADABLE)))
def test_deep_nesting_and_huge_integers_get_an_error_not_a_close(client, raw, message):
    if isinstance(raw, bytes):  # the envelope's length field must cover the deep header
        raw = MAGIC + len(DEEP).to_bytes(4, "little") + DEEP.encode()
    client.send_raw(raw)
    error = client.wait_for("error")
    assert message in error["message"] and len(error["message"]) < 300, error
    client.send_raw(pack_envelope({"type": "new_image", "id": 4, "seed": int(HUGE[:4000])}))
    binary = client.wait_for("error")
    assert binary["id"] == 4 and "seed must be in" in binary["message"]
    assert client.get_state()["seed"] == 0  # the session goes on, unchanged
