"""`draggan-fast drag`'s outputs: checked before the drag, written whole or not at all, bounded
animations, MP4 export (issue 13 items 6, 10, 13). A tiny random generator, no fixtures."""

import numpy as np
import pytest
from PIL import Image

from draggan_fast import DragSession
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import save_generator
from tests.viewer.conftest import tiny_generator

POINTS = "20,30->30,30"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    G = tiny_generator()
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(G, path)
    return G, path


def drag(model_path, *options):
    return main(["drag", "--model", str(model_path), "--points", POINTS, "--device", "cpu",
                 "--lr", "0.01", *map(str, options)])  # fmt: skip


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if the drag gets as far as loading the generator."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded: the bad output was not found up front")

    monkeypatch.setattr("draggan_fast.stylegan.loading.load_generator", refuse)


@pytest.mark.parametrize(
    ("option", "place"),
    [("--gif", "/proc/x.gif"), ("--out", "/proc/out.png"), ("--save-session", "/proc/s.json"),
     ("--mp4", "/proc/x.mp4")],
)  # fmt: skip
def test_an_unwritable_output_fails_before_the_drag(
    model, tmp_path, capsys, no_model_load, option, place
):
    outputs = {"--out": tmp_path / "out.png", option: place}
    status = drag(model[1], *[item for pair in outputs.items() for item in pair], "--steps", 2)
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert error.startswith(f"draggan-fast drag: error: {option} {place}: cannot write in /proc")
    assert "\n" not in error
    assert list(tmp_path.iterdir()) == []


def test_outputs_must_be_different_files(model, tmp_path, capsys, no_model_load):
    same = tmp_path / "a.gif"  # PIL writes GIFs too, so --out may name one
    assert drag(model[1], "--out", same, "--gif", same) == 2
    assert "must be different files" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_file(model, tmp_path, capsys, monkeypatch):
    def disk_full(self, path):
        path.write_bytes(b"partial")  # a writer that fails half-way
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DragSession, "save", disk_full)
    outdir = tmp_path / "out"
    outdir.mkdir()
    status = drag(model[1], "--steps", 2, "--out", outdir / "r.png", "--gif", outdir / "t.gif",
                  "--save-session", outdir / "s.json")  # fmt: skip
    assert status == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(outdir.iterdir()) == []  # no result, no GIF, no temporary file


def test_the_gif_keeps_a_bounded_number_of_frames(model, tmp_path):
    gif = tmp_path / "t.gif"
    status = drag(model[1], "--steps", 12, "--keep-going", "--out", tmp_path / "r.png",
                  "--gif", gif, "--max-frames", 4)  # fmt: skip
    assert status == 0
    with Image.open(gif) as animation:
        # 12 rendered steps through a 4-frame buffer: at most 3 kept, then the result
        assert 2 <= animation.n_frames <= 4


def test_mp4_export_and_session_written_in_place(model, tmp_path, capsys):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    G, model_path = model
    video, saved, out = tmp_path / "t.mp4", tmp_path / "s.json", tmp_path / "r.png"
    status = drag(model_path, "--steps", 3, "--keep-going", "--out", out, "--mp4", video,
                  "--save-session", saved)  # fmt: skip
    assert status == 0, capsys.readouterr().err
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    frames = [np.frombuffer(frame, np.uint8) for frame in reader]
    assert meta["size"] == (64, 64) and len(frames) == 4  # 3 steps + the result
    session = DragSession.load(saved, G)
    assert session.step_count == 3
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), session.image())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png", "s.json", "s.npz", "t.mp4"]
