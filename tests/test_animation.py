"""draggan_fast/animation.py: the bounded frame buffer and the GIF / MP4 writers."""

import numpy as np
import pytest
from PIL import Image

from draggan_fast.animation import BoundedFrames, write_gif, write_mp4


def test_frames_stay_bounded_and_evenly_spaced():
    frames = BoundedFrames(max_frames=16)
    for index in range(10_000):
        frames.add(index)
        assert len(frames.frames) < 16
    kept = frames.frames
    assert kept[0] == 0 and len(kept) >= 8  # the start kept, the buffer at least half used
    assert set(np.diff(kept)) == {frames.keep_every}  # one spacing: a steady frame rate
    assert kept[-1] > 10_000 - 2 * frames.keep_every  # up to the end of the drag


def test_takes_next_says_which_frames_are_kept():
    frames = BoundedFrames(max_frames=4)
    taken = []
    for index in range(40):
        taken.append(frames.takes_next())
        frames.add(index if taken[-1] else None)
    assert set(frames.frames) <= {index for index, take in enumerate(taken) if take}
    assert None not in frames.frames and taken[:4] == [True] * 4  # every frame until it fills
    assert taken.count(False) > 0
    with pytest.raises(ValueError):
        BoundedFrames(max_frames=1)


def test_gif_round_trip(tmp_path):
    frames = [np.full((8, 10, 3), 40 * i, np.uint8) for i in range(5)]
    write_gif(frames, tmp_path / "a.part")  # written as GIF whatever the suffix
    with Image.open(tmp_path / "a.part") as gif:
        assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (10, 8)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (33, 65)])
def test_mp4_round_trip(tmp_path, height, width):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(7)]
    write_mp4(frames, tmp_path / "v.part")
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "v.part"))
    meta = next(reader)
    assert meta["size"] == (width + width % 2, height + height % 2)  # yuv420p: even sizes
    assert sum(1 for _ in reader) == 7
