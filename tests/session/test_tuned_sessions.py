"""Sessions on a photo's tuned generator: saved with its weights, reopened exactly, both backends
(and the fast backend's frozen-weight caches) on the tuned weights; the weights file untrusted."""

import hashlib
import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from draggan_fast import DragSession, invert
from draggan_fast.inversion.progress import to_uint8
from draggan_fast.session import generator_files
from tests.session.conftest import tiny_generator


@pytest.fixture(scope="module")
def base_G():
    G = tiny_generator(img_resolution=32, seed=5)
    with torch.no_grad():
        for block in G.synthesis.blocks:  # images mostly inside [-1, 1]
            block.torgb.weight.mul_(0.2)
    return G


@pytest.fixture(scope="module")
def inversion(base_G):
    z = torch.randn([1, base_G.z_dim], generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        photo = to_uint8(base_G(z, None, noise_mode="const"))  # uint8 [32, 32, 3]
    photo = photo.copy()
    photo[8:16, 8:16] = 255  # a white square no latent of G makes: tuning must change weights
    return invert(base_G, photo, steps=3, tuning_steps=4, device="cpu")


def _drag(session, steps):
    if len(session.handles) == 0:
        session.add_point((10, 12), (16, 14))
    for _ in range(steps):
        session.step()


def test_invert_marks_only_its_tuned_copy(base_G, inversion):
    assert inversion.tuned and generator_files.is_tuned(inversion.generator)
    assert not generator_files.is_tuned(base_G)
    untuned = invert(base_G, inversion.photo, steps=1, pivotal_tuning=False)
    assert untuned.generator is base_G and not generator_files.is_tuned(untuned.generator)


def test_a_saved_photo_edit_reopens_with_identical_images_and_steps(inversion, tmp_path):
    session = DragSession(inversion.generator, w=inversion.w)
    np.testing.assert_array_equal(session.image(), inversion.image)
    _drag(session, 3)
    path = tmp_path / "edit.json"
    session.save(path)
    weights = tmp_path / "edit.safetensors"
    entry = json.loads(path.read_text())["generator_file"]
    assert entry == {"file": "edit.safetensors",
                     "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}  # fmt: skip

    loaded = DragSession.load(path)  # no G: the session names its generator
    assert generator_files.is_tuned(loaded.generator)
    assert loaded.generator is not inversion.generator
    np.testing.assert_array_equal(loaded.image(), session.image())
    for _ in range(3):
        expected, result = session.step(render=True), loaded.step(render=True)
        np.testing.assert_array_equal(result.image, expected.image)
        np.testing.assert_array_equal(result.handles, expected.handles)
    np.testing.assert_array_equal(loaded.w, session.w)

    loaded.save(tmp_path / "again.json")  # a reopened photo edit saves its weights again
    again, first = (load_file(tmp_path / name) for name in ("again.safetensors", weights.name))
    assert again.keys() == first.keys()
    assert all(torch.equal(again[name], first[name]) for name in first)


def test_a_renamed_photo_session_opens(inversion, tmp_path):
    session = DragSession(inversion.generator, w=inversion.w)
    session.save(tmp_path / "a.json")
    for suffix in (".json", ".npz", ".safetensors"):
        (tmp_path / f"a{suffix}").rename(tmp_path / f"b{suffix}")
    np.testing.assert_array_equal(DragSession.load(tmp_path / "b.json").image(), session.image())


def test_given_G_the_tuned_weights_still_win(base_G, inversion, tmp_path):
    session = DragSession(inversion.generator, w=inversion.w)
    session.save(tmp_path / "s.json")
    loaded = DragSession.load(tmp_path / "s.json", base_G)
    np.testing.assert_array_equal(loaded.image(), session.image())
    assert not np.array_equal(DragSession(base_G, w=inversion.w).image(), session.image())
    other = tiny_generator(img_resolution=64)
    with pytest.raises(ValueError, match=r"^not a valid session file: .*generator of shape"):
        DragSession.load(tmp_path / "s.json", other)


def test_sessions_on_a_model_file_write_no_weights(base_G, tmp_path):
    DragSession(base_G).save(tmp_path / "plain.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json", "plain.npz"]
    assert "generator_file" not in json.loads((tmp_path / "plain.json").read_text())
    with pytest.raises(ValueError, match="names no generator file; pass its generator G"):
        DragSession.load(tmp_path / "plain.json")
    DragSession(base_G).save(tmp_path / "forced.json", include_generator=True)
    assert (tmp_path / "forced.safetensors").is_file()
    reopened = DragSession.load(tmp_path / "forced.json")
    np.testing.assert_array_equal(reopened.image(), DragSession(base_G).image())


def _rewrite(path, **entry):
    description = json.loads(path.read_text())
    description["generator_file"].update(entry)
    path.write_text(json.dumps(description))


def test_the_weights_file_is_untrusted(inversion, tmp_path):
    path = tmp_path / "s.json"
    DragSession(inversion.generator, w=inversion.w).save(path)
    weights = tmp_path / "s.safetensors"
    good = weights.read_bytes()

    def refused(message):
        with pytest.raises(ValueError, match=f"^not a valid session file: .*{message}") as info:
            DragSession.load(path)
        assert "\n" not in str(info.value)

    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    refused("does not match the session's")
    payload = pickle.dumps({"weights": [1, 2]})  # a pickle with its right hash: still refused
    weights.write_bytes(payload)
    _rewrite(path, sha256=hashlib.sha256(payload).hexdigest())
    refused("not a safetensors file")
    weights.write_bytes(good)
    _rewrite(path, sha256=hashlib.sha256(good).hexdigest())
    _rewrite(path, file="../../etc/other.safetensors")  # never followed: s.safetensors is read
    DragSession.load(path)
    _rewrite(path, file=3)
    refused("generator_file.file must be a file name")
    _rewrite(path, file="s.safetensors", sha256="ABC")
    refused("sha256 must be 64 lower-case hex digits")
    _rewrite(path, sha256=hashlib.sha256(good).hexdigest())
    weights.unlink()
    refused("its generator file .* is missing")


def test_both_backends_and_fresh_frozen_caches_on_a_tuned_generator(base_G, inversion):
    tuned = inversion.generator
    base_fast = DragSession(base_G, w=inversion.w, backend="fast")  # fills caches for base_G
    _drag(base_fast, 2)
    sessions = {b: DragSession(tuned, w=inversion.w, backend=b) for b in ("reference", "fast")}
    for session in sessions.values():
        session.add_point((10, 12), (16, 14))
    for _ in range(3):
        results = {b: s.step(render=True) for b, s in sessions.items()}
        np.testing.assert_array_equal(results["fast"].handles, results["reference"].handles)
        difference = results["fast"].image.astype(np.int16) - results["reference"].image
        assert np.abs(difference).max() <= 1
    np.testing.assert_allclose(sessions["fast"].w, sessions["reference"].w, rtol=0, atol=1e-5)
    on_base = DragSession(base_G, w=sessions["fast"].w)
    assert not np.array_equal(on_base.image(), sessions["fast"].image())  # not base's caches
