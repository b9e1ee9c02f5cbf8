"""Saving and loading sessions: exact round trips, no pickle, clear errors for bad files."""

import json

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.session.file_format import arrays_path
from tests.session.conftest import tiny_generator


def _dragged_session(G, **kwargs):
    session = DragSession(G, lr=0.05, r2=40, **kwargs)
    session.add_point((10, 12), (25, 18))
    session.add_point((20.5, 5), (18, 12))
    session.run(3, until_done=False, render_every=0)
    session.set_target(1, (16, 14))  # targets moved after the references were taken
    return session


@pytest.mark.parametrize("latent_space", ["w+", "w"])
def test_a_loaded_session_continues_exactly_as_the_saved_one(tiny_G, tmp_path, latent_space):
    session = _dragged_session(tiny_G, latent_space=latent_space, n_optimized_layers=5)
    movable = np.zeros([32, 32], np.float32)
    movable[2:30, 2:30] = 0.75
    session.set_mask(movable)
    session.save(tmp_path / "drag.json")
    assert (tmp_path / "drag.npz").is_file()

    loaded = DragSession.load(tmp_path / "drag.json", tiny_G)
    np.testing.assert_array_equal(loaded.w, session.w)
    np.testing.assert_array_equal(loaded.w0, session.w0)
    np.testing.assert_array_equal(loaded.handles, session.handles)
    np.testing.assert_array_equal(loaded.targets, session.targets)
    np.testing.assert_array_equal(loaded.movable_mask, movable)
    assert loaded.step_count == session.step_count == 3
    assert loaded.hyperparameters == session.hyperparameters
    assert loaded.config == session.config

    for _ in range(2):  # same references, optimizer moments and step counts: same steps
        expected, got = session.step(), loaded.step()
        np.testing.assert_array_equal(got.handles, expected.handles)
        assert got.losses == expected.losses and got.step == expected.step
    np.testing.assert_array_equal(loaded.w, session.w)

    session.reset()
    loaded.reset()  # the handles as placed were saved too
    np.testing.assert_array_equal(loaded.handles, session.handles)


def test_a_fresh_session_round_trips(tiny_G, tmp_path):
    session = DragSession(tiny_G, seed=5, truncation_psi=0.5, lr=0.01, tracking="l1")
    session.save(tmp_path / "fresh.json")
    loaded = DragSession.load(tmp_path / "fresh.json", tiny_G)
    assert loaded.hyperparameters["seed"] == 5 and loaded.config.tracking == "l1"
    assert loaded.handles.shape == (0, 2) and loaded.movable_mask is None
    assert loaded.state_dict()["references"] is None
    np.testing.assert_array_equal(loaded.w, session.w)


def test_the_files_are_json_and_a_plain_npz(tiny_G, tmp_path):
    session = _dragged_session(tiny_G)
    session.save(tmp_path / "drag.json")
    description = json.loads((tmp_path / "drag.json").read_text())
    assert description["format"] == "draggan-fast-session"
    assert description["points"]["handles"] == session.handles.tolist()  # (x, y), as tracked
    assert description["points"]["start_handles"] == [[10, 12], [20.5, 5]]
    assert description["points"]["targets"] == [[25, 18], [16, 14]]
    with np.load(tmp_path / "drag.npz", allow_pickle=False) as arrays:
        names = set(arrays.files)
        assert all(arrays[name].dtype != object for name in names)
    assert {"w0", "w", "references/handle_features", "references/feature_map"} <= names
    assert {"optimizer/exp_avg", "optimizer/exp_avg_sq"} <= names


@pytest.mark.parametrize("latent_space", ["w+", "w"])
def test_a_saved_session_can_start_a_new_one(tiny_G, tmp_path, latent_space):
    session = _dragged_session(tiny_G, latent_space=latent_space)
    session.save(tmp_path / "drag.json")
    follow_up = DragSession(tiny_G, w=tmp_path / "drag.json")
    np.testing.assert_array_equal(follow_up.w0, session.w)
    np.testing.assert_array_equal(follow_up.w, session.w)
    assert follow_up.handles.shape == (0, 2) and follow_up.step_count == 0


def test_loading_on_a_different_generator_is_refused(tiny_G, tmp_path):
    DragSession(tiny_G).save(tmp_path / "s.json")
    with pytest.raises(ValueError, match="saved for a generator of shape"):
        DragSession.load(tmp_path / "s.json", tiny_generator(img_resolution=64))


def test_missing_and_broken_files_give_clear_errors(tiny_G, tmp_path):
    with pytest.raises(ValueError, match="give the JSON path"):
        DragSession(tiny_G).save(tmp_path / "s.npz")
    with pytest.raises(FileNotFoundError, match="session file not found"):
        DragSession.load(tmp_path / "nothing.json", tiny_G)
    DragSession(tiny_G).save(tmp_path / "s.json")
    text = (tmp_path / "s.json").read_text()

    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a valid session file"):
        DragSession.load(tmp_path / "s.json", tiny_G)

    description = json.loads(text)
    description["hyperparameters"]["lr"] = -1
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="lr must be > 0"):
        DragSession.load(tmp_path / "s.json", tiny_G)

    description = json.loads(text)
    description["hyperparameters"]["evil"] = "os.system"
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="hyperparameters"):
        DragSession.load(tmp_path / "s.json", tiny_G)

    description = json.loads(text)
    description["points"] = {"handles": [[1, 1]], "targets": [[99, 1]]}
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="outside"):
        DragSession.load(tmp_path / "s.json", tiny_G)

    (tmp_path / "s.json").write_text(text)
    arrays_path(tmp_path / "s.json").unlink()
    with pytest.raises(FileNotFoundError, match="session arrays not found"):
        DragSession.load(tmp_path / "s.json", tiny_G)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("hyperparameters", [1, 2], "hyperparameters is not a JSON object"),
        ("points", [1], "points is not a JSON object"),
        ("points", {"handles": 3, "targets": 3}, "points must be lists"),
        ("optimizer", [1], "optimizer is not a JSON object"),
        ("optimizer", {"param_groups": ["a"]}, "optimizer param_groups must be a list of one"),
        ("optimizer", {"param_groups": [{}], "scalars": [1]}, "optimizer scalars is not"),
        ("step", True, "step must be a non-negative integer"),
    ],
)
def test_malformed_sections_give_clear_errors(tiny_G, tmp_path, section, value, message):
    DragSession(tiny_G).save(tmp_path / "s.json")
    description = json.loads((tmp_path / "s.json").read_text())
    description[section] = value
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match=f"not a valid session file: {message}"):
        DragSession.load(tmp_path / "s.json", tiny_G)


def test_a_broken_archive_gives_a_clear_error(tiny_G, tmp_path):
    DragSession(tiny_G).save(tmp_path / "s.json")
    (tmp_path / "s.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    with pytest.raises(ValueError, match=r"not a valid session file: .*s\.npz"):
        DragSession.load(tmp_path / "s.json", tiny_G)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("optimizer/exp_avg", np.zeros([2, 16], np.float32), "optimizer/exp_avg is"),
        (
            "references/feature_map",
            np.zeros([1, 16, 8, 8], np.float32),
            "references/feature_map is .* block's",
        ),
        (
            "references/handle_features",
            np.zeros([2, 3], np.float32),
            "feature references do not match",
        ),
        ("references/feature_map", None, "references/feature_map is missing"),
    ],
)
def test_arrays_of_the_wrong_shape_are_refused(tiny_G, tmp_path, name, value, message):
    _dragged_session(tiny_G).save(tmp_path / "s.json")
    with np.load(tmp_path / "s.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    if value is None:
        del arrays[name]
    else:
        arrays[name] = value
    np.savez(tmp_path / "s.npz", **arrays)
    with pytest.raises(ValueError, match=f"not a valid session file: {message}"):
        DragSession.load(tmp_path / "s.json", tiny_G)


def test_pickled_arrays_are_never_loaded(tiny_G, tmp_path):
    DragSession(tiny_G).save(tmp_path / "s.json")
    with np.load(tmp_path / "s.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["w"] = np.array([object()], dtype=object)  # needs pickle to read back
    np.savez(tmp_path / "s.npz", **arrays)
    with pytest.raises(ValueError, match="not a valid session file"):
        DragSession.load(tmp_path / "s.json", tiny_G)


def test_backend_and_device_can_be_overridden_on_load(tiny_G, tmp_path):
    DragSession(tiny_G).save(tmp_path / "s.json")
    loaded = DragSession.load(tmp_path / "s.json", tiny_G, backend="reference", device="cpu")
    assert loaded.device == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown backend"):
        DragSession.load(tmp_path / "s.json", tiny_G, backend="nope")


def _rewrite_arrays(path, **changes):
    """Replace arrays of a saved session: name=function(the saved array) -> the new array."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update({name: change(arrays[name]) for name, change in changes.items()})
    np.savez(path, **arrays)


def _full(value, dtype=None):
    return lambda saved: np.full(saved.shape, value, dtype)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("w", _full("abc"), "w holds <U3, not numbers"),
        ("w", _full(np.nan, np.float32), "w holds NaN or infinite values"),
        ("w", _full(np.inf, np.float32), "w holds NaN or infinite values"),
        ("w0", _full(-np.inf, np.float32), "w0 holds NaN or infinite values"),
        ("w", lambda saved: saved[:, :-1], r"w is \[1, 7, 16\], not w\+'s \[1, 8, 16\]"),
        ("w0", lambda saved: saved[0], r"w0 is \[8, 16\], not \[1, 8, 16\]"),
        ("w", _full(True), "w holds bool, not numbers"),
        ("optimizer/step", _full("abc"), "optimizer/step holds <U3, not numbers"),
        ("optimizer/step", lambda saved: np.zeros(2), "optimizer/step is .*not one number"),
        ("optimizer/step", _full(-1.0, np.float32), "optimizer/step must be >= 0"),
        ("optimizer/exp_avg", _full("x"), "optimizer/exp_avg holds <U1"),
        ("optimizer/exp_avg_sq", _full(-1.0, np.float32), "optimizer/exp_avg_sq holds negative"),
        ("references/feature_map", _full("f"), "references/feature_map holds <U1"),
        ("references/handle_features", _full("f"), "references/handle_features holds <U1"),
        ("references/feature_map", _full(np.nan, np.float32), "references/feature_map holds NaN"),
        ("movable_mask", _full("m"), "movable_mask: mask must be bool"),
    ],
)
def test_corrupt_arrays_are_refused_on_load(tiny_G, tmp_path, name, change, message):
    # Before: strings raised torch's raw TypeError, a NaN w loaded and rendered black.
    session = _dragged_session(tiny_G)
    session.set_mask(np.ones([32, 32], bool))
    session.save(tmp_path / "s.json")
    _rewrite_arrays(tmp_path / "s.npz", **{name: change})
    with pytest.raises(ValueError, match=f"not a valid session file: {message}"):
        DragSession.load(tmp_path / "s.json", tiny_G)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", "abc", r"param_groups\[0\].lr must be a finite number, got 'abc'"),
        ("lr", 0, r"param_groups\[0\].lr must be > 0"),
        ("lr", float("nan"), r"param_groups\[0\].lr must be a finite number"),
        ("eps", [1], r"param_groups\[0\].eps must be a finite number"),
        ("betas", [0.9], r"param_groups\[0\].betas must be two numbers"),
        ("betas", [0.9, 1.5], r"param_groups\[0\].betas must be below 1"),
        ("amsgrad", "yes", r"param_groups\[0\].amsgrad must be true, false or null"),
    ],
)
def test_corrupt_optimizer_settings_are_refused_on_load(tiny_G, tmp_path, key, value, message):
    # Before: param_groups[0].lr = "abc" loaded, and the first step raised a TypeError.
    _dragged_session(tiny_G).save(tmp_path / "s.json")
    description = json.loads((tmp_path / "s.json").read_text())
    description["optimizer"]["param_groups"][0][key] = value
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match=f"not a valid session file: optimizer {message}"):
        DragSession.load(tmp_path / "s.json", tiny_G)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ({"handles": [["a", 1]], "targets": [[2, 2]]}, "handles must be a list of .* numbers"),
        ({"handles": [[1, 2, 3]], "targets": [[2, 2]]}, "handles must be a list of"),
        ({"handles": [[1, 2]], "targets": [[2, 2]], "start_handles": [[1]]}, "start_handles must"),
        ({"handles": [[1, 2]], "targets": [[2, 2], [3, 3]]}, "points do not pair up"),
        ({"handles": [[1, 1]], "targets": [[99, 1]]}, "points: target .* is outside"),
    ],
)
def test_corrupt_points_are_refused_on_load(tiny_G, tmp_path, points, message):
    DragSession(tiny_G).save(tmp_path / "s.json")
    description = json.loads((tmp_path / "s.json").read_text())
    description["points"] = points
    (tmp_path / "s.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match=f"not a valid session file: {message}"):
        DragSession.load(tmp_path / "s.json", tiny_G)


def test_a_corrupt_file_step_still_loads_nothing_after_an_error(tiny_G, tmp_path):
    """A file refused on load leaves no half-made state behind: the next good file loads."""
    session = _dragged_session(tiny_G)
    session.save(tmp_path / "good.json")
    session.save(tmp_path / "bad.json")
    _rewrite_arrays(tmp_path / "bad.npz", w=_full(np.nan, np.float32))
    with pytest.raises(ValueError, match="not a valid session file: w holds NaN"):
        DragSession.load(tmp_path / "bad.json", tiny_G)
    loaded = DragSession.load(tmp_path / "good.json", tiny_G)
    np.testing.assert_array_equal(loaded.w, session.w)
    assert loaded.step().step == session.step_count + 1
