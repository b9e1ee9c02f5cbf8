"""`draggan-fast invert PHOTO` then `draggan-fast drag --session ...`, end to end on a tiny model:
the drag runs on the session's tuned generator with no --model."""

import json

import numpy as np
import pytest
from PIL import Image

from draggan_fast import DragSession
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import save_generator

POINTS = "10,12->15,14"


@pytest.fixture(scope="module")
def inverted(tiny_G, made_photo, tmp_path_factory):
    """(folder, SESSION.json) of `draggan-fast invert` on a photo of tiny_G."""
    folder = tmp_path_factory.mktemp("inverted")
    model, photo = folder / "tiny.safetensors", folder / "some_face.png"
    save_generator(tiny_G, model)
    Image.fromarray(made_photo).save(photo)
    out = folder / "face.json"
    assert main(["invert", str(photo), "--model", str(model), "--out", str(out),
                 "--steps", "3", "--tuning-steps", "3", "--device", "cpu"]) == 0  # fmt: skip
    model.unlink()  # the drag must not need it
    return folder, out


def test_drag_continues_an_inverted_session_on_its_tuned_generator(inverted, tmp_path, capsys):
    _, session_path = inverted
    entry = json.loads(session_path.read_text())["generator_file"]
    assert entry["file"] == "face.safetensors"
    result, saved = tmp_path / "result.png", tmp_path / "edited.json"
    status = main(["drag", "--session", str(session_path), "--points", POINTS, "--steps", "3",
                   "--keep-going", "--backend", "reference", "--lr", "0.05", "--out",
                   str(result), "--save-session", str(saved), "--device", "cpu"])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "edited.json", "edited.npz", "edited.safetensors", "result.png",
    ]  # fmt: skip

    assert json.loads(saved.read_text())["generator_file"]["file"] == "edited.safetensors"
    expected = DragSession.load(session_path, backend="reference")
    expected.configure(lr=0.05)
    expected.add_point((10, 12), (15, 14))
    expected.run(max_steps=3, until_done=False)
    np.testing.assert_array_equal(np.asarray(Image.open(result)), expected.image())
    reopened = DragSession.load(saved)
    assert reopened.step_count == 3 and reopened.hyperparameters["lr"] == 0.05
    np.testing.assert_array_equal(reopened.image(), expected.image())


def test_start_settings_are_fixed_by_the_session(inverted, tmp_path, capsys):
    _, session_path = inverted
    status = main(["drag", "--session", str(session_path), "--points", POINTS, "--seed", "3",
                   "--latent-space", "w", "--out", str(tmp_path / "r.png")])  # fmt: skip
    err = capsys.readouterr().err
    assert status != 0 and "--seed, --latent-space: fixed by --session" in err
    assert list(tmp_path.iterdir()) == []


def test_a_broken_session_is_one_line(inverted, tmp_path, capsys):
    folder, session_path = inverted
    broken = tmp_path / "broken.json"
    description = json.loads(session_path.read_text())
    description["generator_file"]["sha256"] = "0" * 64
    broken.write_text(json.dumps(description))
    (tmp_path / "broken.npz").write_bytes(session_path.with_suffix(".npz").read_bytes())
    (tmp_path / "broken.safetensors").write_bytes((folder / "face.safetensors").read_bytes())
    status = main(["drag", "--session", str(broken), "--points", POINTS,
                   "--out", str(tmp_path / "r.png")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert status != 0 and "not a valid session file" in err and "does not match" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "r.png").exists()
