"""What a session worker answers besides frames and state: the reply fields of a command, the
error reply to a failed one, and the decoding of a set_mask payload."""

import numpy as np

from draggan_fast.stylegan.errors import CheckpointError

# What a command's bad input raises: its message is the whole answer. Anything else is a bug or
# an engine failure, logged with its traceback; the client gets its type and message.
INPUT_ERRORS = (ValueError, IndexError, KeyError, FileNotFoundError, CheckpointError)


def id_of(command):
    return {"id": command["id"]} if "id" in command else {}


def describe_error(exc) -> str:
    """An exception as the client sees it: bad input by its message, anything else with its
    type too (a TypeError's message alone rarely says what went wrong)."""
    if isinstance(exc, KeyError):
        return f"missing {exc}"
    if isinstance(exc, INPUT_ERRORS):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_reply(command, exc):
    message = describe_error(exc)
    return {"type": "error", "command": command["type"], "message": message, **id_of(command)}


def decode_mask(command, image_size):
    """set_mask payload: uint8 [height, width], row-major, nonzero = movable -> bool array."""
    height, width = image_size
    if (command["height"], command["width"]) != (height, width):
        raise ValueError(
            f"mask is {command['width']}x{command['height']}, the image is {width}x{height}"
        )
    payload = command["payload"]
    if len(payload) != width * height:
        raise ValueError(f"mask payload has {len(payload)} bytes, expected {width * height}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(height, width) != 0
