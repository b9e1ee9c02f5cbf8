"""`convert`, `generate` and `drag` end to end on the official StyleGAN3 (T, R) and
StyleGAN-Human fixture pickles, converted to safetensors in a temporary folder."""

import numpy as np
import pytest
import torch
from PIL import Image

from draggan_fast import DragSession, z_from_seed
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import load_generator
from tests.stylegan.families_fixtures import HUMAN_FIXTURE, SG3_FIXTURES

FIXTURES = [*SG3_FIXTURES, HUMAN_FIXTURE]
FAMILY = {"stylegan3-t-64": "stylegan3", "stylegan3-r-128": "stylegan3"}


@pytest.fixture(scope="module")
def converted(fixtures_dir, tmp_path_factory):
    """{fixture: (generator loaded from the pickle, path of its converted safetensors)}."""
    folder = tmp_path_factory.mktemp("models")
    models = {}
    for name in FIXTURES:
        dest = folder / f"{name}.safetensors"
        assert main(["convert", str(fixtures_dir / f"{name}.pkl"), str(dest)]) == 0
        models[name] = (load_generator(fixtures_dir / f"{name}.pkl"), dest)
    return models


@pytest.mark.parametrize("name", FIXTURES)
def test_convert_keeps_the_family_and_the_images(converted, name):
    G, path = converted[name]
    loaded = load_generator(path)
    assert loaded.family == G.family == FAMILY.get(name, "stylegan_human")
    z = z_from_seed(3, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, truncation_psi=0.7), G(z, truncation_psi=0.7))


@pytest.mark.parametrize("name", FIXTURES)
def test_generate_writes_the_generators_own_shape(converted, name, tmp_path, capsys):
    G, path = converted[name]
    args = ["generate", "--model", str(path), "--seeds", "2", "--outdir", str(tmp_path)]
    assert main([*args, "--device", "cpu"]) == 0
    height, width = G.image_shape
    assert f"of {width}x{height}" in capsys.readouterr().out
    image = np.asarray(Image.open(tmp_path / "seed0002.png"))
    assert image.shape == (height, width, 3)
    if G.family == "stylegan_human":
        assert width == height // 2  # the rectangle, no white margins
    with torch.no_grad():
        img = G.unpad(G(z_from_seed(2, G.z_dim), truncation_psi=0.7, noise_mode="const"))
    expected = (img[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("name", FIXTURES)
def test_drag_runs_on_every_family(converted, name, backend, tmp_path, capsys):
    G, path = converted[name]
    size = G.img_resolution
    x, y = size // 2, size // 2  # the middle of the square (StyleGAN-Human: padded)
    out, saved = tmp_path / "result.png", tmp_path / "s.json"
    status = main([
        "drag", "--model", str(path), "--seed", "1", "--lr", "0.01", "--backend", backend,
        "--points", f"{x},{y}->{x + size // 8},{y}", "--steps", "2", "--out", str(out),
        "--save-session", str(saved), "--device", "cpu",
    ])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert "2 steps (stopped at --steps)" in capsys.readouterr().out
    session = DragSession.load(saved, G)
    assert session.step_count == 2 and not np.array_equal(session.w, session.w0)
    result = np.asarray(Image.open(out).convert("RGB"))
    assert result.shape == (size, size, 3)  # the square the drag works on
    np.testing.assert_array_equal(result, session.image())
    rectangle = session.image(unpadded=True)
    assert rectangle.shape == (*G.image_shape, 3)
    if G.family == "stylegan_human":
        margin = (size - G.image_shape[1]) // 2
        np.testing.assert_array_equal(result[:, margin : size - margin], rectangle)
        assert (result[:, :margin] == 255).all() and (result[:, size - margin :] == 255).all()


def test_eval_drag_refuses_other_families_in_one_line(converted, capsys):
    _, path = converted["stylegan3-t-64"]
    args = ["eval-drag", "--model", str(path), "--pairs", "1", "--steps", "1", "--device", "cpu"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a stylegan3 generator; eval-drag's landmark detector reads" in err
    assert err.count("\n") == 1
