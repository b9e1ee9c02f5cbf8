"""The frames of a drag, kept for the animated GIF export, within a memory budget."""

import io

import numpy as np
from PIL import Image

MAX_RECORDING_BYTES = 96 * 1024 * 1024


class DragRecording:
    """Rendered frames since the image was opened or reset: the first, then every other one
    once the budget is reached (the drag stays whole, at a lower frame rate)."""

    def __init__(self, max_bytes: int = MAX_RECORDING_BYTES):
        self.max_bytes = max_bytes
        self.clear()

    def clear(self):
        self.frames = []  # uint8 [H, W, 3] each
        self._bytes = 0  # of self.frames
        self._keep_every = 1
        self._offered = 0

    def add(self, image: np.ndarray):
        self._offered += 1
        if (self._offered - 1) % self._keep_every:
            return
        frame = np.ascontiguousarray(image)
        self.frames.append(frame)
        self._bytes += frame.nbytes
        if self._bytes > self.max_bytes and len(self.frames) > 2:
            self.frames = self.frames[::2]
            self._bytes = sum(kept.nbytes for kept in self.frames)
            self._keep_every *= 2

    def gif(self, fps: int = 10) -> bytes:
        """The recorded frames as a looping animated GIF (the last frame held for a second)."""
        if not self.frames:
            raise ValueError("nothing to export yet: run a drag first")
        images = [Image.fromarray(frame) for frame in self.frames]
        frame_ms = max(20, round(1000 / fps))
        durations = [frame_ms] * (len(images) - 1) + [1000]
        buffer = io.BytesIO()
        images[0].save(
            buffer, format="GIF", save_all=True, append_images=images[1:],
            duration=durations, loop=0, optimize=False,
        )  # fmt: skip
        return buffer.getvalue()
