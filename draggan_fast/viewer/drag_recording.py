"""The frames of a drag, kept for the GIF and MP4 exports, within a memory budget."""

import io
import tempfile
from pathlib import Path

import numpy as np

from draggan_fast.animation import mp4_available, write_gif, write_mp4

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

    def export(self, command: str, fps: int = 10) -> tuple[str, bytes, str]:
        """An export command ("export_gif" or "export_mp4") -> (file name, data, mime type)."""
        name, mime, encode = EXPORTS[command]
        return name, encode(self, fps), mime

    def gif(self, fps: int = 10) -> bytes:
        """The recorded frames as a looping animated GIF (the last frame held for a second)."""
        buffer = io.BytesIO()
        write_gif(self._frames_to_export(), buffer, max(20, round(1000 / fps)), last_frame_ms=1000)
        return buffer.getvalue()

    def mp4(self, fps: int = 10) -> bytes:
        """The recorded frames as an H.264 MP4 (draggan_fast/animation.py's encoder, which needs
        the `video` extra: ValueError naming it when it is not installed)."""
        missing = mp4_available()
        if missing is not None:
            raise ValueError(missing)
        frames = self._frames_to_export()
        with tempfile.TemporaryDirectory(prefix="draggan-mp4-") as folder:
            path = Path(folder) / "drag.mp4"  # ffmpeg seeks back to finish an MP4: a file
            write_mp4(frames, path, fps=fps)
            return path.read_bytes()

    def _frames_to_export(self):
        if not self.frames:
            raise ValueError("nothing to export yet: run a drag first")
        return self.frames


# export command -> (file name, mime type, DragRecording method)
EXPORTS = {
    "export_gif": ("drag.gif", "image/gif", DragRecording.gif),
    "export_mp4": ("drag.mp4", "video/mp4", DragRecording.mp4),
}
