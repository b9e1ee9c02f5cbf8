"""The model card writer (stylegan/training/model_card.py) and its entry point
(draggan_fast/install_default_model.py): where the files go is the caller's, the machine behind
eval-drag's times is the eval JSON's (the layers' imports: tests/test_layers.py)."""

import json
import shutil

import pytest

from draggan_fast.assets_registry import default_detector_path, default_model_path
from draggan_fast.install_default_model import BUNDLED, DRAG_SETTINGS
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator
from draggan_fast.stylegan.training.model_card import (
    BundledFiles,
    drag_settings_section,
    install,
    write_card,
    write_drag_settings,
)

CONFIG = {
    "resolution": 64, "z_dim": 128, "w_dim": 128, "mapping_layers": 4, "channel_base": 16384,
    "channel_max": 64, "batch_size": 32, "g_lr": 0.0025, "d_lr": 0.0025, "r1_gamma": 0.05,
    "r1_interval": 16, "ema_kimg": 10.0, "ema_rampup": 0.05, "style_mixing": 0.9,
    "num_fp16_res": 0, "seed": 0, "data_seed": 0,
}  # fmt: skip
TABLE = "| backend | points |\n| --- | --- |\n| fast | 1 |"


def test_the_entry_point_names_the_bundled_files():
    assert BUNDLED.model == default_model_path() and BUNDLED.detector == default_detector_path()
    assert BUNDLED.shown(BUNDLED.model) == "draggan_fast/assets/default_model.safetensors"


@pytest.fixture
def run_and_files(tmp_path):
    """A run folder (checkpoint.json, generator, sample grid) and files under tmp_path/repo."""
    run = tmp_path / "run"
    run.mkdir()
    meta = {"config": CONFIG, "kimg": 12.0, "train_seconds": 360.0, "device": "cpu"}
    (run / "checkpoint.json").write_text(json.dumps(meta))
    shutil.copyfile(default_model_path(), run / "generator.safetensors")
    (run / "samples-latest.png").write_bytes(b"png")
    root = tmp_path / "repo"
    files = BundledFiles(
        root=root,
        model=root / "pkg" / "assets" / "model.safetensors",
        detector=root / "pkg" / "assets" / "detector.safetensors",
        card=root / "docs" / "card.md",
        samples=root / "docs" / "pictures" / "grid.png",
    )
    files.samples.parent.mkdir(parents=True)
    return run, files


def test_install_then_card_use_the_callers_paths(run_and_files, tmp_path):
    run, files = run_and_files
    install(run, files, {"lr": 0.004, "lambda_mask": 2.0})
    assert _tensor_bytes(files.model) == _tensor_bytes(default_model_path())
    assert load_generator(files.model).drag_settings == {"lr": 0.004, "lambda_mask": 2.0}
    assert files.samples.read_bytes() == b"png"
    shutil.copyfile(default_detector_path(), files.detector)  # the run trained none
    evaluation = {"table": TABLE, "device": "cuda", "machine": "NVIDIA H200"}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    write_card(run, files, tmp_path / "eval.json", notes="A note.")
    card = files.card.read_text()
    assert "`pkg/assets/model.safetensors` is a StyleGAN2" in card
    assert "`pkg/assets/detector.safetensors` (`draggan_fast.stylegan.landmarks`)" in card
    assert "![samples: seeds 0-63, psi 1](pictures/grid.png)" in card
    assert "12 kimg (images shown to D) in 0.10 h of training steps on cpu" in card
    assert TABLE in card and "\n\nA note.\n\n" in card
    assert "The model file recommends lr 0.004, lambda_mask 2 (its" in card
    assert "Times per edit come from one run on NVIDIA H200: they depend" in card
    assert "CPU cores" not in card


def test_an_eval_json_without_a_machine_names_none(run_and_files, tmp_path):
    run, files = run_and_files
    install(run, files, DRAG_SETTINGS)
    shutil.copyfile(default_detector_path(), files.detector)
    (tmp_path / "eval.json").write_text(json.dumps({"rows": [], "table": TABLE}))
    write_card(run, files, tmp_path / "eval.json")
    card = files.card.read_text()
    assert "Times per edit come from one run: they depend" in card
    assert "cores" not in card and "shared" not in card


def _tensor_bytes(path):
    data = path.read_bytes()
    return data[8 + int.from_bytes(data[:8], "little") :]


def test_drag_settings_are_written_in_place_with_the_weights_unchanged(tmp_path):
    model = tmp_path / "model.safetensors"
    shutil.copyfile(default_model_path(), model)
    write_drag_settings(model, model, {"lr": 0.02})
    assert load_generator(model).drag_settings == {"lr": 0.02}
    assert _tensor_bytes(model) == _tensor_bytes(default_model_path())
    assert [path.name for path in tmp_path.iterdir()] == ["model.safetensors"]  # nothing staged
    with pytest.raises(CheckpointError, match="lr must be > 0"):
        write_drag_settings(model, model, {"lr": 0})
    assert load_generator(model).drag_settings == {"lr": 0.02}  # a refused rewrite changes nothing


def test_the_card_in_docs_shows_the_bundled_models_settings():
    section = "\n".join(drag_settings_section(load_generator(default_model_path()).drag_settings))
    assert section in BUNDLED.card.read_text()
    assert "recommends lr 0.005, lambda_mask 1, r1 3, r2 12" in section


def test_a_rewritten_card_keeps_hand_written_sections_and_adds_the_quality_table(
    run_and_files, tmp_path
):
    run, files = run_and_files
    install(run, files, DRAG_SETTINGS)
    shutil.copyfile(default_detector_path(), files.detector)
    (tmp_path / "eval.json").write_text(json.dumps({"rows": [], "table": TABLE}))
    write_card(run, files, tmp_path / "eval.json")
    stale_table = "| old | numbers |"
    files.card.write_text(
        files.card.read_text().replace(TABLE, stale_table)
        + "\n## Inverting photos\n\nMeasured by hand.\n\n| a | b |\n"
    )  # a hand-written section after Reproduce, and an owned one edited
    quality_table = "| measure | model.safetensors | real faces |"
    (tmp_path / "quality.json").write_text(json.dumps({"results": {}, "table": quality_table}))
    write_card(run, files, tmp_path / "eval.json", quality_json=tmp_path / "quality.json")
    card = files.card.read_text()
    assert "## Inverting photos\n\nMeasured by hand.\n\n| a | b |" in card
    assert card.index("## Inverting photos") < card.index("## Reproduce")
    assert card.count("## Inverting photos") == 1 and card.count("## Reproduce") == 1
    assert stale_table not in card and TABLE in card  # owned sections are rewritten
    quality = card.index("## Image quality (`draggan-fast eval-model`)")
    assert quality < card.index(quality_table) < card.index("## Drag accuracy")


def test_a_continued_run_says_which_part_of_its_training_was_its_own(run_and_files):
    run, files = run_and_files
    install(run, files, DRAG_SETTINGS)
    shutil.copyfile(default_detector_path(), files.detector)
    meta = json.loads((run / "checkpoint.json").read_text())
    meta["started_from"] = {"generator": "old.safetensors", "kimg": 5.0}
    (run / "checkpoint.json").write_text(json.dumps(meta))
    write_card(run, files)
    assert (
        "12 kimg (images shown to D): the first 5 kimg by an earlier run (its exported generator "
        "old.safetensors), then 7 kimg continued from it in 0.10 h of training steps on cpu, "
        "with a fresh D"
    ) in files.card.read_text()
