"""The GIF recording of a drag: every frame while it fits, then every other one, in order."""

import io

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
