"""The viewer protocol, version 1: command validation and the binary envelope (docs/protocol.md).

Text messages are JSON objects with a "type". Binary messages (both directions) share one
envelope: the magic b"DGF1", a little-endian uint32 header length, the header (UTF-8 JSON) and a
payload. Server -> client that is a frame (header kind "frame", payload RGB uint8 [H, W, 3]) or
a file (kind "file"); client -> server a command whose header is validated like a text command
and whose payload is its data (set_mask, load_session, open_photo).
"""

import json
import math
import struct

PROTOCOL_VERSION = 1
MAGIC = b"DGF1"
_HEADER_LENGTH = struct.Struct("<I")
MAX_HEADER_BYTES = 64 * 1024
MAX_ID_CHARS = 64
MAX_ID_MAGNITUDE = 2**53  # integer ids stay exact in JavaScript
MAX_POINTS = 32


class ProtocolError(ValueError):
    """A message that breaks the protocol; `field` names the offending field when there is one,
    `command` and `request_id` the command's type and id when they could be read (the error
    reply echoes them, so a client waiting for that id gets its answer)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field
        self.command = None
        self.request_id = None


def _loads(data, what: str):
    """JSON text or bytes -> Python value; ProtocolError for anything json cannot read, nesting
    too deep for the parser or an integer too long to convert included."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ProtocolError(f"{what} is not valid JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # e.g. an integer of over 4300 digits
        raise ProtocolError(f"{what} is not valid JSON: {exc}") from None


def pack_envelope(header: dict, payload: bytes = b"") -> bytes:
    """header (JSON-able dict) + payload bytes -> one binary message."""
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + _HEADER_LENGTH.pack(len(encoded)) + encoded + bytes(payload)


def unpack_envelope(message: bytes) -> tuple[dict, memoryview]:
    """One binary message -> (header dict, payload view). Raises ProtocolError when malformed."""
    view = memoryview(message)
    prefix = len(MAGIC) + _HEADER_LENGTH.size
    if len(view) < prefix or bytes(view[: len(MAGIC)]) != MAGIC:
        raise ProtocolError("binary message does not start with the DGF1 envelope")
    (header_length,) = _HEADER_LENGTH.unpack_from(view, len(MAGIC))
    if header_length > MAX_HEADER_BYTES or prefix + header_length > len(view):
        raise ProtocolError(f"binary envelope header length {header_length} is out of range")
    header = _loads(bytes(view[prefix : prefix + header_length]), "binary envelope header")
    if not isinstance(header, dict):
        raise ProtocolError("binary envelope header must be a JSON object")
    return header, view[prefix + header_length :]


# Field kinds: each checker takes (name, value) and returns the normalised value.


def _shown(value) -> str:
    """A value for an error message, shortened (an integer may have thousands of digits)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _number(low, high, *, integer=False, low_open=False):
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(f"{name} must be a number, got {type(value).__name__}", name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError(f"{name} must be finite, got {value!r}", name)
        if integer and isinstance(value, float) and not value.is_integer():
            raise ProtocolError(f"{name} must be an integer, got {value!r}", name)
        too_low = value <= low if low_open else value < low  # exact for ints of any length
        if too_low or value > high:
            bounds = f"{'(' if low_open else '['}{low}, {high}]"
            raise ProtocolError(f"{name} must be in {bounds}, got {_shown(value)}", name)
        return int(value) if integer else float(value)

    return check


_COORDINATE = _number(-1e6, 1e6)


def _point(name, value):
    """[x, y] image pixels; the image bounds are checked against the model by the session."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ProtocolError(f"{name} must be [x, y], got {_shown(value)}", name)
    return (_COORDINATE(f"{name}[0]", value[0]), _COORDINATE(f"{name}[1]", value[1]))


def _choice(*options):
    def check(name, value):
        if value not in options:
            raise ProtocolError(f"{name} must be one of {list(options)}, got {_shown(value)}", name)
        return value

    return check


def _text(max_chars):
    def check(name, value):
        if not isinstance(value, str) or not 0 < len(value) <= max_chars:
            raise ProtocolError(f"{name} must be a string of 1..{max_chars} characters", name)
        return value

    return check


_SEED = _number(0, 2**32 - 1, integer=True)
_INDEX = _number(0, MAX_POINTS - 1, integer=True)
_PARAMS = {
    "lr": _number(0, 1, low_open=True),
    "lambda_mask": _number(0, 1000),
    "r1": _number(0, 64, low_open=True),
    "r2": _number(0, 128, low_open=True),
    "render_every": _number(1, 1000, integer=True),
    "max_steps": _number(1, 100_000, integer=True),
}

# type -> ({field: checker}, required fields, payload expected)
COMMANDS = {
    "new_image": (
        {
            "seed": _SEED,
            "truncation_psi": _number(-1, 2),
            "latent_space": _choice("w", "w+"),
            "model": _text(200),
        },
        (),
        False,
    ),
    "set_params": (_PARAMS, (), False),
    "add_point": ({"handle": _point, "target": _point}, ("handle", "target"), False),
    "set_point": ({"index": _INDEX, "handle": _point, "target": _point}, ("index",), False),
    "remove_point": ({"index": _INDEX}, ("index",), False),
    "clear_points": ({}, (), False),
    "set_mask": (
        {"width": _number(1, 4096, integer=True), "height": _number(1, 4096, integer=True)},
        ("width", "height"),
        True,
    ),
    "clear_mask": ({}, (), False),
    "start": ({"max_steps": _PARAMS["max_steps"]}, (), False),
    "stop": ({}, (), False),
    "undo": ({}, (), False),
    "reset_image": ({}, (), False),
    "render": ({}, (), False),
    "get_state": ({}, (), False),
    "save_session": ({}, (), False),
    "load_session": ({"name": _text(200)}, (), True),
    "export_gif": ({"fps": _number(1, 50, integer=True)}, (), False),
    "export_mp4": ({"fps": _number(1, 50, integer=True)}, (), False),
    "open_photo": (
        {
            "name": _text(200),
            "steps": _number(0, 2000, integer=True),
            "tuning_steps": _number(0, 2000, integer=True),
        },
        (),
        True,
    ),
}


def parse_command(message, payload=None) -> dict:
    """A decoded JSON message (+ binary payload) -> a validated command dict.

    The result has "type", the optional "id" and each given field, normalised (points become
    (x, y) float tuples); "payload" holds the bytes of a binary command.
    """
    if not isinstance(message, dict):
        raise ProtocolError("a command must be a JSON object")
    try:
        return _parse_command(message, payload)
    except ProtocolError as exc:  # the reply names the command and echoes a valid id
        kind, request_id = message.get("type"), message.get("id")
        exc.command = kind[:64] if isinstance(kind, str) else None
        exc.request_id = request_id if _valid_id(request_id) else None
        raise


def _valid_id(request_id) -> bool:
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return abs(request_id) < MAX_ID_MAGNITUDE
    return isinstance(request_id, str) and len(request_id) <= MAX_ID_CHARS


def _parse_command(message: dict, payload) -> dict:
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in COMMANDS:
        known = sorted(COMMANDS)
        raise ProtocolError(f"unknown command type {_shown(kind)}; known: {known}", "type")
    fields, required, wants_payload = COMMANDS[kind]
    command = {"type": kind}
    if "id" in message:
        request_id = message["id"]
        if not _valid_id(request_id):
            raise ProtocolError(
                f"id must be an integer (|id| < 2^53) or a string of <= {MAX_ID_CHARS} characters",
                "id",
            )
        command["id"] = request_id
    unknown = sorted(set(message) - set(fields) - {"type", "id"})
    if unknown:
        raise ProtocolError(f"{kind}: unknown field(s) {unknown}", unknown[0])
    for name in required:
        if name not in message:
            raise ProtocolError(f"{kind}: missing field {name!r}", name)
    for name, check in fields.items():
        if name in message:
            command[name] = check(name, message[name])
    if kind == "set_point" and "handle" not in command and "target" not in command:
        raise ProtocolError("set_point needs a handle, a target or both", "handle")
    if wants_payload != (payload is not None):
        how = "a binary message (envelope + payload)" if wants_payload else "a text message"
        raise ProtocolError(f"{kind} must be sent as {how}", "type")
    if payload is not None:
        command["payload"] = bytes(payload)
    return command


def parse_text_message(text: str) -> dict:
    return parse_command(_loads(text, "message"))


def parse_binary_message(data: bytes) -> dict:
    header, payload = unpack_envelope(data)
    return parse_command(header, payload)
