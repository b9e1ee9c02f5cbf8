"""Animations of a drag: a bounded frame buffer, and GIF / MP4 writers.

`BoundedFrames` keeps a long drag's frames within a fixed count: every frame at first, then,
each time the buffer fills, every other kept frame is dropped and only every 2k-th frame is
taken from then on (the whole drag stays, at a lower frame rate), as the viewer's recording
does. `write_gif` uses Pillow; `write_mp4` uses imageio-ffmpeg (the `video` extra: a registry
package that ships its own ffmpeg binary), imported only when an MP4 is written.
"""

from __future__ import annotations

from pathlib import Path

MAX_FRAMES = 600
MP4_INSTALL_HINT = "MP4 export needs imageio-ffmpeg: pip install 'draggan-fast[video]'"


class BoundedFrames:
    """Frames offered one by one; at most `max_frames` kept, evenly spaced over the drag."""

    def __init__(self, max_frames: int = MAX_FRAMES):
        if max_frames < 2:
            raise ValueError(f"max_frames must be at least 2, got {max_frames}")
        self.max_frames = max_frames
        self.frames = []  # uint8 [H, W, 3] each
        self.keep_every = 1
        self._offered = 0

    def takes_next(self) -> bool:
        """Whether the next frame offered will be kept (so a caller can skip drawing it)."""
        return self._offered % self.keep_every == 0

    def add(self, frame):
        """Offer the next frame, uint8 [H, W, 3]; kept or not by the spacing in force."""
        taken = self.takes_next()
        self._offered += 1
        if not taken:
            return
        self.frames.append(frame)
        if len(self.frames) >= self.max_frames:
            self.frames = self.frames[::2]
            self.keep_every *= 2


def write_gif(frames, target, frame_ms: int = 80, last_frame_ms: int | None = None):
    """uint8 [H, W, 3] frames -> a looping animated GIF at `target` (a path, whatever its
    suffix, or a binary file object); the last frame shows `last_frame_ms` when given."""
    import numpy as np
    from PIL import Image

    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    if not images:
        raise ValueError("no frames to write")
    durations = [frame_ms] * len(images)
    if last_frame_ms is not None:
        durations[-1] = last_frame_ms
    images[0].save(
        target, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )


def mp4_available() -> str | None:
    """None when MP4s can be written here, else why not (one line)."""
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        return f"{MP4_INSTALL_HINT} ({exc})"
    return None


def write_mp4(frames, path, fps: float = 12.5):
    """uint8 [H, W, 3] frames -> an H.264 MP4 (yuv420p, playable everywhere). Odd sizes are
    padded by one edge pixel to even, as yuv420p needs."""
    import imageio_ffmpeg
    import numpy as np

    frames = [np.asarray(frame) for frame in frames]
    if not frames:
        raise ValueError("no frames to write")
    height, width = frames[0].shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    writer = imageio_ffmpeg.write_frames(
        str(Path(path)), (width + width % 2, height + height % 2), fps=fps, codec="libx264",
        pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=1, quality=8,
        output_params=["-f", "mp4"],
    )  # fmt: skip
    writer.send(None)  # starts ffmpeg
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(np.pad(frame, pad, mode="edge")))
    finally:
        writer.close()
