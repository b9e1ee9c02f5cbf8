"""`draggan-fast invert` end to end on a tiny saved model; errors leave no files behind."""

import json

import numpy as np
import pytest
from PIL import Image

from draggan_fast import DragSession, load_generator
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import save_generator


@pytest.fixture(scope="module")
def model_path(tiny_G, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(tiny_G, path)
    return path


@pytest.fixture
def photo(made_photo, tmp_path):
    """A 48x40 RGBA photo (so it is cropped, resized and flattened) in its own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    rgba = np.concatenate([made_photo, np.full([32, 32, 1], 255, np.uint8)], axis=2)
    path = folder / "photo.png"
    Image.fromarray(rgba, "RGBA").resize((48, 40)).save(path)
    return path


def test_invert_writes_session_weights_comparison_and_report(model_path, photo, tmp_path, capsys):
    out, report = tmp_path / "face.json", tmp_path / "report.json"
    status = main(["invert", str(photo), "--model", str(model_path), "--out", str(out),
                   "--steps", "4", "--tuning-steps", "3", "--device", "cpu",
                   "--json", str(report)])  # fmt: skip
    stdout = capsys.readouterr().out
    assert status == 0 and "PSNR after projection" in stdout and "after tuning" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "face.json", "face.npz", "face.png", "face.safetensors", "in", "report.json",
    ]  # fmt: skip
    metrics = json.loads(report.read_text())
    for key in ("psnr_projection", "psnr_tuned", "seconds_projection", "seconds_tuning"):
        assert np.isfinite(metrics[key]), key
    assert metrics["settings"]["steps"] == 4 and metrics["settings"]["tuning_steps"] == 3
    tuned = load_generator(out.with_suffix(".safetensors"))
    session = DragSession.load(out, tuned)
    comparison = np.asarray(Image.open(out.with_suffix(".png")).convert("RGB"))
    assert comparison.shape == (32, 64, 3)
    np.testing.assert_array_equal(comparison[:, 32:], session.image())  # the reconstruction
    photo_psnr = 10 * np.log10(255**2 / np.mean(
        (comparison[:, :32].astype(float) - session.image().astype(float)) ** 2))  # fmt: skip
    assert photo_psnr == pytest.approx(metrics["psnr_tuned"])


def test_no_tuning_keeps_the_model_weights(model_path, photo, tmp_path, tiny_G):
    out = tmp_path / "s.json"
    assert main(["invert", str(photo), "--model", str(model_path), "--out", str(out),
                 "--steps", "2", "--no-tuning", "--latent-space", "w"]) == 0  # fmt: skip
    saved = load_generator(out.with_suffix(".safetensors"))
    for name, value in tiny_G.state_dict().items():
        np.testing.assert_array_equal(saved.state_dict()[name].numpy(), value.numpy())
    session = DragSession.load(out, saved)
    assert session.hyperparameters["latent_space"] == "w"


def _broken(folder, kind):
    path = folder / "bad.png"
    if kind == "text":
        path.write_text("not an image")
    else:
        Image.fromarray(np.random.default_rng(0).integers(0, 255, [64, 64, 3], np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:300])
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [("text", "bad.png: not an image file"), ("truncated", "bad.png: truncated or damaged")],
)
def test_bad_photos_give_one_line_and_no_files(model_path, tmp_path, capsys, kind, message):
    photo = _broken(tmp_path, kind)
    out = tmp_path / "out" / "s.json"
    out.parent.mkdir()
    status = main(["invert", str(photo), "--model", str(model_path), "--out", str(out),
                   "--steps", "2", "--json", str(tmp_path / "out" / "r.json")])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2 and message in error and error.count("\n") == 1, error
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "no/such/folder/s.json"], "does not exist"),
        (["--out", "s.txt"], "must end in .json"),
        (["--json", "s.json"], "is one of the session's own files"),
        (["--steps", "-1"], "must be >= 0"),
        (["--latent-space", "w+", "photo_missing"], "photo_missing: no such file"),
    ],
)
def test_bad_arguments_fail_before_any_work(model_path, photo, tmp_path, monkeypatch, capsys,
                                            arguments, message):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    base = {"--out": "s.json", "--steps": "2"}
    extra, positional = {}, str(photo)
    for index in range(0, len(arguments) - 1, 2):
        extra[arguments[index]] = arguments[index + 1]
    if len(arguments) % 2:
        positional = arguments[-1]
    options = [item for key, value in {**base, **extra}.items() for item in (key, value)]
    status = main(["invert", positional, "--model", str(model_path), *options])
    assert status == 2 and message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
