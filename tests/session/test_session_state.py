"""DragSession.state_dict() / load_state_dict(): a drag continues exactly from its state, and a
bad state is refused whole, naming what is wrong, with the session left as it was."""

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.session.state import STATE_KEYS


def _dragged(G, backend="reference", **settings):
    session = DragSession(G, lr=0.05, r2=40, backend=backend, **settings)
    session.add_point((10, 12), (25, 18))
    session.add_point((20.5, 5), (18, 12))
    session.set_mask(np.ones([32, 32], np.float32) * 0.5)
    session.run(3, until_done=False, render_every=0)
    session.set_target(1, (16, 14))
    return session


def test_the_state_dict_holds_plain_copies(tiny_G):
    session = _dragged(tiny_G)
    state = session.state_dict()
    assert set(state) == set(STATE_KEYS)
    assert state["step"] == 3 and state["hyperparameters"] == session.hyperparameters
    np.testing.assert_array_equal(state["handles"].numpy(), session.handles)  # (x, y)
    np.testing.assert_array_equal(state["start_handles"].numpy(), [[10, 12], [20.5, 5]])
    assert set(state["references"]) == {"handle_features", "feature_map"}
    assert set(state["optimizer"]) == {"state", "param_groups"}
    w = state["w"].clone()
    session.run(2, until_done=False, render_every=0)  # the state taken before does not move
    assert torch.equal(state["w"], w) and state["step"] == 3


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("latent_space", ["w+", "w"])
def test_a_drag_continues_exactly_from_its_state(tiny_G, backend, latent_space):
    session = _dragged(tiny_G, backend=backend, latent_space=latent_space)
    other = DragSession(tiny_G, seed=7, backend=backend, latent_space=latent_space, lr=0.3)
    other.load_state_dict(session.state_dict())
    np.testing.assert_array_equal(other.w, session.w)
    np.testing.assert_array_equal(other.w0, session.w0)
    np.testing.assert_array_equal(other.targets, session.targets)
    np.testing.assert_array_equal(other.movable_mask, session.movable_mask)
    assert other.hyperparameters == session.hyperparameters and other.config == session.config
    for _ in range(2):  # same references, optimizer moments and step count: the same steps
        expected, got = session.step(), other.step()
        np.testing.assert_array_equal(got.handles, expected.handles)
        assert got.losses == expected.losses and got.step == expected.step
    np.testing.assert_array_equal(other.w, session.w)
    session.reset()
    other.reset()  # the handles as placed came with the state
    np.testing.assert_array_equal(other.handles, session.handles)


def test_loading_a_state_starts_a_new_undo_history(tiny_G):
    session = _dragged(tiny_G)
    other = DragSession(tiny_G, lr=0.05)
    other.add_point((1, 1), (2, 2))
    other.step()
    other.load_state_dict(session.state_dict())
    assert not other.undo()  # the history of neither session applies
    np.testing.assert_array_equal(other.w, session.w)


def _corrupt(state, key, value):
    if "/" in key:
        section, name = key.split("/")
        state[section] = {**state[section], name: value}
    else:
        state[key] = value
    return state


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("w", "abc", "w is not an array"),
        ("w", np.full([1, 8, 16], "abc"), "w holds <U3"),
        ("w", torch.full([1, 8, 16], float("nan")), "w holds NaN or infinite values"),
        ("w", torch.zeros([1, 16]), r"w is \[1, 16\], not w\+'s \[1, 8, 16\]"),
        ("w0", torch.full([1, 8, 16], float("inf")), "w0 holds NaN"),
        ("step", -1, "step must be a non-negative integer"),
        ("handles", [[1, 2], [3, 99]], "points: handle .* is outside"),
        ("references/feature_map", "x", r"references/feature_map is not an array"),
        ("movable_mask", np.ones([4, 4]), "movable_mask: mask must be"),
        ("generator", {"z_dim": 1}, "it was saved for a generator of shape"),
        ("hyperparameters/latent_space", "w", "hyperparameters latent_space is 'w', this"),
        ("hyperparameters/lr", "abc", "hyperparameters: lr must be a finite number"),
        (
            "optimizer",
            {"state": {}, "param_groups": [{"amsgrad": False}]},
            r"optimizer param_groups\[0\] has no lr, betas, eps",
        ),
        (
            "optimizer",
            {"state": {1: {}}, "param_groups": [{"lr": 0.1, "betas": [0.9, 0.99], "eps": 1e-8}]},
            "optimizer state is not of one parameter",
        ),
        (
            "optimizer",
            {"state": {}, "param_groups": [{"lr": "abc"}]},
            r"optimizer param_groups\[0\].lr must be a finite number",
        ),
    ],
)
def test_a_bad_state_is_refused_and_changes_nothing(tiny_G, key, value, message):
    session = _dragged(tiny_G)
    before = session.state_dict()
    state = _corrupt(session.state_dict(), key, value)
    with pytest.raises(ValueError, match=f"not a valid session state: {message}"):
        session.load_state_dict(state)
    after = session.state_dict()
    for name in ("w", "w0", "handles", "targets", "start_handles", "movable_mask"):
        assert torch.equal(after[name], before[name]), name
    assert after["step"] == before["step"] and after["hyperparameters"] == before["hyperparameters"]
    torch.testing.assert_close(after["optimizer"], before["optimizer"], rtol=0, atol=0)


def test_a_state_with_missing_keys_is_refused(tiny_G):
    session = DragSession(tiny_G)
    state = session.state_dict()
    del state["w"], state["references"]
    with pytest.raises(ValueError, match="not a valid session state: w, references missing"):
        session.load_state_dict(state)
    with pytest.raises(ValueError, match="not a valid session state: it is not a dict"):
        session.load_state_dict([1, 2])
