"""Protocol pieces without a server: the envelope, command normalisation, the latest-wins
outbox (a slow client drops frames, keeps every event, is cut off when it stops reading)."""

import asyncio

import pytest

from draggan_fast.viewer.outbox import Outbox
from draggan_fast.viewer.protocol import (
    ProtocolError,
    pack_envelope,
    parse_binary_message,
    parse_text_message,
    unpack_envelope,
)
from draggan_fast.viewer.server import BackgroundServer


def test_envelope_round_trip_and_layout():
    message = pack_envelope({"kind": "frame", "width": 2}, b"\x01\x02\x03")
    assert message[:4] == b"DGF1"
    header_length = int.from_bytes(message[4:8], "little")
    assert message[8 : 8 + header_length] == b'{"kind":"frame","width":2}'
    header, payload = unpack_envelope(message)
    assert header == {"kind": "frame", "width": 2} and bytes(payload) == b"\x01\x02\x03"
    for broken in (
        b"DGF",
        b"DGF2" + bytes(8),
        b"DGF1\x05\x00\x00\x00[1,2]",
        b"DGF1\x02\x00\x00\x00{x",
    ):
        with pytest.raises(ProtocolError):
            unpack_envelope(broken)


def test_commands_are_normalised():
    command = parse_text_message(
        '{"type": "add_point", "id": "a", "handle": [1, 2.5], "target": [3, 4]}'
    )
    assert command == {"type": "add_point", "id": "a", "handle": (1.0, 2.5), "target": (3.0, 4.0)}
    assert parse_text_message('{"type": "remove_point", "index": 2.0}')["index"] == 2
    assert parse_text_message('{"type": "set_params", "lr": 1}') == {
        "type": "set_params",
        "lr": 1.0,
    }
    mask = parse_binary_message(
        pack_envelope({"type": "set_mask", "width": 2, "height": 1}, b"\x01\x00")
    )
    assert mask == {"type": "set_mask", "width": 2, "height": 1, "payload": b"\x01\x00"}


class SlowSocket:
    """A WebSocket whose sends wait until `gate` opens, recording what was sent."""

    def __init__(self):
        self.gate = asyncio.Event()
        self.sent = []
        self.closed = False
        self.close_code = None

    async def send_str(self, data):
        await self.gate.wait()
        self.sent.append(data)

    send_bytes = send_str

    async def close(self, code, message=b""):
        self.closed, self.close_code = True, code


def test_a_slow_client_gets_the_latest_frame_and_every_event_in_order():
    async def scenario():
        socket = SlowSocket()
        outbox = Outbox(socket, asyncio.get_running_loop())
        sender = asyncio.create_task(outbox.run())
        outbox.post(b"frame 1", "frame")
        await asyncio.sleep(0.01)  # the sender now waits inside send_bytes(frame 1)
        outbox.post("event 1")
        outbox.post(b"frame 2", "frame")
        outbox.post(b"frame 3", "frame")  # replaces frame 2, which was never sent
        outbox.post("event 2")
        socket.gate.set()
        await asyncio.sleep(0.01)
        outbox.close()
        await sender
        return socket.sent, outbox.dropped

    sent, dropped = asyncio.run(scenario())
    assert sent == [b"frame 1", "event 1", b"frame 3", "event 2"] and dropped == 1


def test_a_client_that_stops_reading_is_disconnected():
    async def scenario():
        socket = SlowSocket()
        outbox = Outbox(socket, asyncio.get_running_loop(), max_pending=3)
        sender = asyncio.create_task(outbox.run())
        for index in range(10):
            outbox.post(b"frame", "frame")  # frames never count: they replace each other
            outbox.post(f"event {index}")
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        socket.gate.set()
        await sender
        return socket

    socket = asyncio.run(scenario())
    assert socket.closed and socket.close_code == 1008
    assert len(socket.sent) <= 1  # at most the message that was in flight


def test_a_client_that_leaves_large_files_unread_is_disconnected():
    async def scenario(posts):
        socket = SlowSocket()
        outbox = Outbox(socket, asyncio.get_running_loop(), max_pending_bytes=1000)
        sender = asyncio.create_task(outbox.run())
        await asyncio.sleep(0)
        for data in posts:
            outbox.post(data)
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        socket.gate.set()
        await asyncio.sleep(0.01)
        outbox.close()
        await sender
        return socket

    one_big_file = asyncio.run(scenario([b"x" * 5000]))  # a file over the budget alone: sent
    assert not one_big_file.closed and one_big_file.sent == [b"x" * 5000]
    files = asyncio.run(scenario([b"first", b"x" * 600, b"y" * 600]))
    assert files.closed and files.close_code == 1008


def test_the_client_reports_an_unreadable_server_message_and_reads_on():
    from aiohttp import web

    from draggan_fast.client import ViewerClient

    async def rogue(request):
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        await websocket.send_bytes(b"DGF1 not an envelope")
        await websocket.send_str('{"type": "hello"}')
        await websocket.receive()
        return websocket

    server = BackgroundServer(registry=None)  # the viewer's app, plus a rogue endpoint
    server._app.router.add_get("/rogue/ws", rogue)
    with server, ViewerClient(f"{server.url}/rogue", timeout=20) as client:
        error = client.next_message()
        assert error.type == "error" and "unreadable message from the server" in error["message"]
        assert client.next_message().type == "hello"
