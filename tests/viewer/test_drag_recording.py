"""The recording of a drag: every frame while it fits, then every other one, in order; its GIF
and MP4 exports."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

from draggan_fast.viewer.drag_recording import DragRecording


def _frame(index):
    return np.full((4, 4, 3), index, dtype=np.uint8)  # 48 bytes, pixel value = frame index


def test_frames_thin_out_to_stay_within_the_budget():
    recording = DragRecording(max_bytes=4 * 48)  # room for four frames
    for index in range(10):
        recording.add(_frame(index))
    kept = [int(frame[0, 0, 0]) for frame in recording.frames]
    assert kept == [0, 4, 8]  # halved twice: every 4th frame from the first, in order
    assert sum(frame.nbytes for frame in recording.frames) <= recording.max_bytes
    recording.clear()
    recording.add(_frame(20))
    recording.add(_frame(21))
    assert [int(frame[0, 0, 0]) for frame in recording.frames] == [20, 21]  # all kept again


def test_gif_holds_the_kept_frames():
    recording = DragRecording()
    with pytest.raises(ValueError, match="nothing to export"):
        recording.gif()
    for index in range(3):
        recording.add(_frame(index * 100))
    gif = Image.open(io.BytesIO(recording.gif(fps=5)))
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (4, 4)
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert durations == [200, 200, 1000]  # 5 fps, the last frame held for a second


def _mp4_frame_count(data: bytes, tmp_path) -> tuple[tuple[int, int], int]:
    """(size, frames) of an MP4, decoded by imageio-ffmpeg's ffmpeg."""
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "drag.mp4"
    path.write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(path))
    size = next(reader)["size"]
    return size, sum(1 for _ in reader)


def test_mp4_holds_the_kept_frames(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    recording = DragRecording()
    with pytest.raises(ValueError, match="nothing to export"):
        recording.mp4()
    for index in range(5):
        recording.add(_frame(index * 50))
    data = recording.mp4(fps=5)
    assert data[4:8] == b"ftyp"  # an ISO media file: its first box says so
    assert _mp4_frame_count(data, tmp_path) == ((4, 4), 5)
    name, exported, mime = recording.export("export_mp4", fps=5)
    assert (name, mime) == ("drag.mp4", "video/mp4") and exported[4:8] == b"ftyp"


def test_mp4_without_its_encoder_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import imageio_ffmpeg fails
    recording = DragRecording()
    recording.add(_frame(0))
    with pytest.raises(ValueError, match=r"imageio-ffmpeg: pip install 'draggan-fast\[video\]'"):
        recording.mp4()
