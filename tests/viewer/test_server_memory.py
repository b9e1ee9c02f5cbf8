"""What a connection holds is released when it goes: a flood of queued commands is dropped at
disconnect (not worked through for minutes), the queue of a busy session is bounded (the server
stops reading instead), and connect/flood/disconnect cycles do not make the server grow."""

import gc
import threading
import time
import tracemalloc

from draggan_fast import DragSession
from draggan_fast.client import ViewerClient
from draggan_fast.viewer import command_queue, session_files, worker
from draggan_fast.viewer.protocol import pack_envelope
from tests.viewer.conftest import IMAGE_SIZE, connect

MASK = pack_envelope({"type": "set_mask", "width": IMAGE_SIZE, "height": IMAGE_SIZE},
                     bytes(IMAGE_SIZE * IMAGE_SIZE))  # fmt: skip


def session_threads():
    return [thread for thread in threading.enumerate() if thread.name == "draggan-session"]


def live_drag_sessions() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if type(thing) is DragSession)


def wait_for(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def flood(client, count):
    """Queue `count` rounds of slow commands without reading a reply."""
    for index in range(count):
        client.send({"type": "add_point", "handle": [index % 60, 1], "target": [index % 60, 5]})
        client.send_raw(MASK)
        client.send({"type": "save_session"})
        client.send({"type": "render"})


def test_a_disconnected_flood_is_dropped_and_its_session_released(server, monkeypatch):
    def slow_dump(session):
        time.sleep(0.05)  # each save takes a while: 100 of them would take 5 s
        return "session.zip", b"", "application/zip"

    monkeypatch.setattr(session_files, "dump", slow_dump)
    sessions_before = live_drag_sessions()
    client = connect(server)
    flood(client, 100)
    time.sleep(0.3)
    client.close()
    assert wait_for(lambda: not session_threads(), timeout_s=2.0), "the worker works on"
    assert wait_for(lambda: live_drag_sessions() <= sessions_before, timeout_s=2.0)


def test_the_command_queue_of_a_busy_session_is_bounded(server, monkeypatch):
    release = threading.Event()

    def blocked_dump(session):
        release.wait(30)
        return "session.zip", b"", "application/zip"

    monkeypatch.setattr(session_files, "dump", blocked_dump)
    monkeypatch.setattr(command_queue, "MAX_QUEUED_COMMANDS", 8)
    with connect(server) as client:
        client.send({"type": "save_session"})  # the worker blocks on it
        flood(client, 20)
        time.sleep(1.0)
        (session_worker,) = [o for o in gc.get_objects() if type(o) is worker.SessionWorker]
        assert session_worker._commands.qsize() <= 8  # the rest waits in the socket
        release.set()
        assert wait_for(lambda: not session_worker.busy, timeout_s=30)
        assert client.get_state()["has_mask"]  # every command got through, in order


def test_connect_flood_disconnect_cycles_do_not_grow_the_server(server):
    def cycle():
        with ViewerClient(server.url, timeout=60) as client:
            client.wait_for("frame")
            flood(client, 10)
            client.send({"type": "start", "max_steps": 3})
            client.send({"type": "new_image", "seed": 3})
            client.get_state()
        assert wait_for(lambda: not session_threads(), timeout_s=10.0)

    cycle()  # warm-up: caches of the first session (the generator's, torch's)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        started = time.monotonic()
        for _ in range(4):
            cycle()
            if time.monotonic() - started > 60:
                break
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1024 * 1024, f"the server kept {grown / 2**20:.1f} MiB of closed sessions"
