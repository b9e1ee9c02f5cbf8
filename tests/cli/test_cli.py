"""`draggan-fast drag` and `draggan-fast generate` end to end on a saved fixture generator."""

import numpy as np
import pytest
import torch
from PIL import Image

from draggan_fast import DragSession, z_from_seed
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import save_generator
from tests.fixture_generators import generator_from_fixture


@pytest.fixture(scope="module")
def model(fixtures_dir, tmp_path_factory):
    G = generator_from_fixture(fixtures_dir, "sg2_64_ada")
    path = tmp_path_factory.mktemp("model") / "sg2_64_ada.safetensors"
    save_generator(G, path)
    return G, path


def test_drag_writes_the_result_gif_and_session(model, tmp_path, capsys):
    G, model_path = model
    mask = np.zeros([64, 64], np.uint8)
    mask[8:56, 8:56] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, gif, saved = tmp_path / "result.png", tmp_path / "trajectory.gif", tmp_path / "s.json"
    status = main([
        "drag", "--model", str(model_path), "--seed", "1", "--lr", "0.01",
        "--points", "20,30->30,30; 40,40 -> 38.5,44", "--mask", str(tmp_path / "mask.png"),
        "--steps", "3", "--out", str(out), "--gif", str(gif), "--save-session", str(saved),
        "--device", "cpu",
    ])  # fmt: skip
    stdout = capsys.readouterr().out
    assert status == 0
    assert "3 steps (stopped at --steps)" in stdout and "ms/step" in stdout
    assert "point 0: handle" in stdout and "target (38.5, 44)" in stdout

    session = DragSession.load(saved, G)
    assert session.step_count == 3 and session.hyperparameters["seed"] == 1
    np.testing.assert_array_equal(session.targets, [[30, 30], [38.5, 44]])
    np.testing.assert_array_equal(session.movable_mask, mask >= 128)
    assert not np.array_equal(session.w, session.w0)
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), session.image())
    with Image.open(gif) as animation:
        assert animation.n_frames == 4 and animation.size == (64, 64)  # 3 steps + the result


def test_generate_writes_one_image_per_seed(model, tmp_path, capsys):
    G, model_path = model
    outdir = tmp_path / "images"
    assert main(["generate", "--model", str(model_path), "--seeds", "0-1,5",
                 "--outdir", str(outdir), "--device", "cpu"]) == 0  # fmt: skip
    assert sorted(path.name for path in outdir.iterdir()) == [
        "seed0000.png", "seed0001.png", "seed0005.png",
    ]  # fmt: skip
    with torch.no_grad():
        img = G(z_from_seed(5, G.z_dim), truncation_psi=0.7, noise_mode="const")
    expected = (img[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(outdir / "seed0005.png")), expected)
    assert "wrote 3 image(s) of 64x64" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--points", "1,2->3"], "'3' is not 'x,y'"),
        (["--points", "1,2=>3,4"], "is not 'x,y->x,y'"),
        (["--points", " ; "], "at least one"),
        (["--points", "1,2->64,4"], "pair 0: target (64, 4) is outside the 64x64 image"),
        (["--steps", "0"], "argument --steps: must be in [1, 1000000000], got 0"),
        (["--steps", "1000000000000"], "argument --steps: must be in [1, 1000000000]"),
        (["--seed", "-1"], "argument --seed: must be in [0, 4294967295], got -1"),
        (["--optimized-layers", "99"], "--optimized-layers must be in [1, "),
        (["--out", "no/such/folder/r.png"], "does not exist"),
        (["--out", "r.unknown"], "--out r.unknown: must be an image file (e.g. .png, .jpg, .webp)"),
        (["--mp4", "t.gif"], "--mp4 t.gif: must end in .mp4"),
        (["--gif", "t.png"], "--gif t.png: must end in .gif"),
        (["--mask", "missing.png"], "--mask missing.png: no such file"),
        (["--mask", "not_an_image.png"], "not a readable image"),
        (["--mask", "small.png"], "mask must be [H, W] = [64, 64]"),
        (["--model", "missing.safetensors"], "no such file"),
        (["--lr", "-1"], "argument --lr: must be > 0, got -1"),
        (["--psi", "nan"], "argument --psi: must be finite"),
    ],
)
def test_drag_input_errors_are_one_line(model, tmp_path, monkeypatch, capsys, arguments, message):
    _, model_path = model
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not_an_image.png").write_bytes(b"plain text")
    Image.fromarray(np.zeros([8, 8], np.uint8)).save(tmp_path / "small.png")
    defaults = {"--model": str(model_path), "--points": "1,2->3,4", "--out": "r.png"}
    options = dict(defaults, **dict(zip(arguments[::2], arguments[1::2])))
    status = main(["drag", *[item for pair in options.items() for item in pair]])
    stderr = capsys.readouterr().err.strip()
    assert status == 2
    assert stderr.startswith("draggan-fast drag: error: ") and message in stderr
    assert "\n" not in stderr and not (tmp_path / "r.png").exists()
    assert len(stderr) < 200  # one short line, not a list of every format PIL knows


@pytest.mark.parametrize(
    ("seeds", "message"), [("7-3", "range"), ("a", "not a seed"), (",", "at least one")]
)
def test_generate_seed_errors_are_one_line(model, tmp_path, capsys, seeds, message):
    _, model_path = model
    status = main(["generate", "--model", str(model_path), "--seeds", seeds,
                   "--outdir", str(tmp_path / "out")])  # fmt: skip
    stderr = capsys.readouterr().err.strip()
    assert status == 2 and message in stderr and "\n" not in stderr
    assert not (tmp_path / "out").exists()
