"""The bundled default model: within its size limits, and DragGAN works on it end to end."""

import json

import numpy as np
import pytest

from draggan_fast.assets_registry import default_detector_path, default_model_path
from draggan_fast.cli import main
from draggan_fast.session import DragSession
from draggan_fast.stylegan.dataset import LANDMARK_NAMES
from draggan_fast.stylegan.landmarks import load_detector
from draggan_fast.stylegan.loading import load_generator

# Measured with seed 1, lr 3e-3: the tracked handle reached the stop distance (2 px) in 29 steps
# and the detected nose tip moved 2.3 px of the 5 px towards its target.
MAX_STEPS_TO_TARGET = 45
MIN_DETECTED_MOVE_PX = 1.5


@pytest.fixture(scope="module")
def generator():
    return load_generator(default_model_path())


def test_bundled_files_are_within_their_limits(generator):
    assert default_model_path().stat().st_size <= 10 * 2**20
    assert default_detector_path().stat().st_size <= 2 * 2**20
    assert (generator.img_resolution, generator.img_channels) == (64, 3)


def test_drag_moves_the_nose_to_its_target(generator):
    detector = load_detector(default_detector_path())
    session = DragSession(generator, seed=1, lr=3e-3)
    nose = LANDMARK_NAMES.index("nose_tip")
    handle = detector.detect_image(session.image())[nose]
    target = handle + np.array([5.0, 0.0], dtype=np.float32)
    session.add_point(tuple(map(float, handle)), tuple(map(float, target)))
    result = session.run(max_steps=MAX_STEPS_TO_TARGET, render_every=0)
    assert result.done, f"handle still {result.distances} px away after {result.step} steps"
    moved = detector.detect_image(session.image())[nose]
    assert np.linalg.norm(moved - handle) >= MIN_DETECTED_MOVE_PX
    assert np.linalg.norm(moved - target) < np.linalg.norm(handle - target)


def test_demo_writes_its_pictures(tmp_path, capsys):
    assert main(["demo", "--outdir", str(tmp_path), "--steps", "2"]) == 0
    for name in ("before.png", "after.png", "trajectory.gif"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "ms per step" in capsys.readouterr().out


def test_eval_drag_reports_a_table(tmp_path, capsys):
    out = tmp_path / "eval.json"
    argv = ["eval-drag", "--pairs", "1", "--steps", "2", "--points", "1", "--backends",
            "reference", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    document = json.loads(out.read_text())
    rows = document["rows"]
    # the machine behind the times per edit, for the model card's notes
    assert document["device"] in ("cpu", "cuda") and document["machine"]
    if document["device"] == "cpu":
        assert document["machine"].endswith(" cores")
    assert [(row["backend"], row["points"]) for row in rows] == [("reference", "1")]
    assert rows[0]["before_px"] > 0 and 1 <= rows[0]["steps"] <= 2
    assert "| reference | 1 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval-drag", "--points", "7"], "--points"),
        (["eval-drag", "--backends", "nope"], "--backend: unknown backend"),
        (["demo", "--steps", "0"], "--steps"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
