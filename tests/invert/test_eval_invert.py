"""`draggan-fast eval-invert` on the bundled model, with a handful of steps."""

import json

import pytest

from draggan_fast.cli import main
from draggan_fast.cli.eval_invert import EVAL_DATASET_SEED
from draggan_fast.stylegan.landmarks_train import HELD_OUT_SEED, TRAIN_SEED
from draggan_fast.stylegan.training.loop import TrainConfig


def test_the_evaluation_seed_was_never_trained_on():
    assert EVAL_DATASET_SEED not in {TrainConfig().data_seed, TRAIN_SEED, HELD_OUT_SEED}


def test_eval_invert_reports_psnr_time_and_drag_rows(tmp_path, capsys):
    report = tmp_path / "eval.json"
    status = main(["eval-invert", "--faces", "2", "--steps", "3", "--tuning-steps", "2",
                   "--drag-steps", "2", "--points", "1", "--device", "cpu",
                   "--json", str(report)])  # fmt: skip
    assert status == 0
    assert "mean PSNR" in capsys.readouterr().out
    document = json.loads(report.read_text())
    summary = document["inversion"]
    assert summary["faces"] == 2 and len(summary["per_face"]) == 2
    assert summary["psnr_tuned"] is not None and summary["seconds_per_face"] > 0
    assert summary["settings"]["steps"] == 3 and document["dataset_seed"] == EVAL_DATASET_SEED
    assert [(row["faces"], row["points"], row["pairs"]) for row in document["drag"]] == [
        ("inverted", "1", 1), ("gan", "1", 1),
    ]  # fmt: skip
    assert all(row["steps"] <= 2 for row in document["drag"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--faces", "0"], "--faces must be >= 1"),
        (["--faces", "2", "--drag-pairs", "2"], "--drag-pairs in [0, faces // 2]"),
        (["--points", "7"], "--points: expected a list of 1, 5, all"),
        (["--backend", "nope"], "unknown backend 'nope'"),
        (["--json", "no/such/dir/r.json"], "does not exist"),
    ],
)
def test_bad_arguments(arguments, message, capsys):
    assert main(["eval-invert", *arguments]) == 2
    assert message in capsys.readouterr().err
