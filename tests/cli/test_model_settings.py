"""The commands use the model's recommended drag settings unless told otherwise, and say which
apply; on the bundled model `drag` reaches the README's target with them; `demo` marks its
points and says when a target was not reached."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from draggan_fast.cli import main
from draggan_fast.cli.demo import HANDLE_COLOR, TARGET_COLOR, outcome

MODEL_SETTINGS = "settings: lr 0.005 (model), lambda_mask 1 (model), r1 3 (model), r2 12 (model)"


def test_drag_on_the_bundled_model_reaches_its_target_with_the_defaults(tmp_path, capsys):
    out = tmp_path / "result.png"
    status = main(["drag", "--points", "32,41->32,48", "--out", str(out), "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert status == 0 and out.is_file()
    assert MODEL_SETTINGS in stdout
    assert "(every handle reached its target)" in stdout, stdout
    distance = float(stdout.split("target (32, 48): ")[1].split(" px")[0])
    assert distance <= 2.0  # the stop distance at 64 px


def test_drag_says_which_settings_were_given(tmp_path, capsys):
    status = main([
        "drag", "--points", "32,41->32,48", "--out", str(tmp_path / "r.png"), "--steps", "1",
        "--lr", "0.01", "--r2", "6", "--device", "cpu",
    ])  # fmt: skip
    assert status == 0
    assert "settings: lr 0.01 (given), lambda_mask 1 (model), r1 3 (model), r2 6 (given)" in (
        capsys.readouterr().out
    )


def _has_color(image, color):
    return bool((np.asarray(image)[..., :3] == color).all(axis=-1).any())


def test_demo_marks_its_points_and_says_a_target_was_not_reached(tmp_path, capsys):
    status = main(["demo", "--outdir", str(tmp_path), "--steps", "1", "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert status == 0
    assert MODEL_SETTINGS in stdout
    assert "open the mouth: target not reached (" in stdout
    assert "px left after 1 steps)" in stdout
    for name in ("before.png", "after.png"):
        with Image.open(tmp_path / name) as image:
            assert _has_color(image, HANDLE_COLOR) and _has_color(image, TARGET_COLOR), name


def test_the_demo_names_a_reached_target_too():
    def result(done):  # what outcome() reads of a StepResult
        return SimpleNamespace(distances=np.array([1.5 if done else 2.64], np.float32), done=done)

    assert outcome("turn", result(True), 12) == (
        "turn: every target reached in 12 steps (1.50 px left)"
    )
    assert outcome("open", result(False), 60) == (
        "open: target not reached (2.64 px left after 60 steps)"
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], "lr 0.005 (model), lambda_mask 1 (model), r1 3 (model)"),
        (["--lr", "0.002"], "lr 0.002 (given), lambda_mask 1 (model), r1 3 (model)"),
    ],
)
def test_eval_drag_uses_and_records_the_models_settings(tmp_path, capsys, options, expected):
    status = main([
        "eval-drag", "--pairs", "1", "--points", "1", "--steps", "1", "--backend", "fast",
        "--device", "cpu", "--json", str(tmp_path / "eval.json"), *options,
    ])  # fmt: skip
    assert status == 0
    assert expected in (tmp_path / "eval.json").read_text()
    assert "settings: " + expected in capsys.readouterr().out
