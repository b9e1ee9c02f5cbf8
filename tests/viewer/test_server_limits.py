"""The limits that keep a shared viewer server alive, against a real server on loopback: the
/healthz report with per-session memory, idle sessions expiring (saved first when the server
has a save directory), the per-connection command rate, and a flooding client not slowing
another session's drag (measured: its step rate with and without the flood, best of two each;
the flooding client runs in this process, so it is paced at ~20x the allowed rate to keep its
own CPU use from being what is measured)."""

import json
import threading
import time
import urllib.request

import numpy as np

from draggan_fast import DragSession
from tests.viewer.conftest import IMAGE_SIZE, connect, tiny_generator

FAR_HANDLE, FAR_TARGET = (5, 5), (60, 60)  # not reached within the drags below


def healthz(server) -> dict:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def test_healthz_reports_each_session_and_its_memory(server):
    assert healthz(server)["sessions"] == 0
    with connect(server) as first, connect(server) as second:
        first.add_point((10, 10), (20, 20))
        first.set_mask(np.ones((IMAGE_SIZE, IMAGE_SIZE), np.uint8))
        second.add_point((10, 10), (20, 20))
        report = healthz(server)
        assert report["sessions"] == 2 and report["max_sessions"] == 4
        by_memory = sorted(report["per_session"], key=lambda s: s["memory_bytes"])
        w_bytes = 16 * 4  # at least the tiny generator's w
        assert by_memory[0]["memory_bytes"] > w_bytes
        # The masked session holds a float mask more: [64, 64] float32 at least.
        assert by_memory[1]["memory_bytes"] - by_memory[0]["memory_bytes"] >= IMAGE_SIZE**2 * 4
        assert report["session_memory_bytes"] == sum(s["memory_bytes"] for s in by_memory)
        assert report["process_rss_bytes"] > 0
    deadline = time.monotonic() + 30
    while healthz(server)["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert healthz(server)["sessions"] == 0


def test_an_idle_session_expires_saved_to_the_save_dir(make_server, tmp_path):
    server = make_server(idle_timeout_s=1.0, save_dir=str(tmp_path))
    with connect(server) as client:
        client.add_point((12, 14), (30, 20))
        hello_session = [p.name for p in tmp_path.iterdir()]
        assert hello_session == []  # nothing saved while the session is in use
        expired = client.wait_for("expired", timeout=30)
        assert expired["saved"] is True
    saved = tmp_path / expired["session"] / "session.json"
    session = DragSession.load(saved, tiny_generator())
    assert session.handles.tolist() == [[12.0, 14.0]]
    assert session.targets.tolist() == [[30.0, 20.0]]


def test_an_idle_session_without_a_save_dir_expires_unsaved(make_server):
    server = make_server(idle_timeout_s=1.0)
    with connect(server) as client:
        assert client.wait_for("expired", timeout=30)["saved"] is False


def test_a_connection_is_held_to_its_command_rate(make_server):
    rate, burst, count = 20.0, 5, 35
    server = make_server(max_commands_per_s=rate, command_burst=burst)
    with connect(server) as client:
        started = time.monotonic()
        ids = {client.send({"type": "clear_points"}) for _ in range(count)}
        while ids:
            reply = client.wait_for("ok", timeout=60)
            ids.discard(reply.get("id"))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.9 * (count - burst) / rate  # 1.5 s at least; unthrottled: ~0.1 s


def _drag_rate(client, steps) -> float:
    """Steps per second of one drag of `steps` steps (that does not finish early)."""
    started = time.monotonic()
    client.start(max_steps=steps)
    stopped = client.wait_for("stopped", timeout=120)
    assert stopped["steps"] == steps, stopped
    return steps / (time.monotonic() - started)


def test_a_flooding_client_does_not_slow_another_sessions_steps(make_server):
    server = make_server(max_commands_per_s=50.0, command_burst=100)
    steps = 30
    with connect(server) as dragger, connect(server) as flooder:
        dragger.add_point(FAR_HANDLE, FAR_TARGET)
        _drag_rate(dragger, 3)  # warm-up
        alone = max(_drag_rate(dragger, steps) for _ in range(2))
        flooding = threading.Event()
        sent = [0]

        def flood():
            deadline = time.monotonic() + 60
            while flooding.is_set() and sent[0] < 5_000 and time.monotonic() < deadline:
                try:
                    flooder.send({"type": "get_state"})
                except (TimeoutError, ConnectionError):
                    return
                sent[0] += 1
                time.sleep(0.001)  # ~20x the allowed rate; the client shares this process's GIL

        flooding.set()
        thread = threading.Thread(target=flood, daemon=True)
        flood_started = time.monotonic()
        thread.start()
        time.sleep(0.5)  # the burst is spent; the flood is on
        flooded = max(_drag_rate(dragger, steps) for _ in range(2))
        flood_seconds = time.monotonic() - flood_started
        flooding.clear()
        thread.join(timeout=30)
        replies, counted_until = 0, time.monotonic() + 0.5
        try:  # the replies that came by the end of the flood (the queued rest is dropped)
            while time.monotonic() < counted_until:
                replies += flooder.next_message(timeout=0.5).type == "ok"
        except TimeoutError:
            pass
    print(f"steps/s alone {alone:.1f}, with a flooding client {flooded:.1f}; "
          f"flood sent {sent[0]} commands, {replies} applied in {flood_seconds:.1f} s")  # fmt: skip
    assert sent[0] > replies  # the flood outran its rate: the rest waited in its socket
    assert replies <= 100 + 50.0 * (flood_seconds + 1.0)
    assert flooded >= 0.5 * alone, (alone, flooded)
