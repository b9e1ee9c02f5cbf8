"""DragSession's public API on a tiny generator: points, masks, steps, runs, undo and reset."""

import numpy as np
import pytest
import torch
from PIL import Image

from draggan_fast import DragSession, StepResult, z_from_seed


def _session(G, **kwargs):
    kwargs.setdefault("lr", 0.05)
    return DragSession(G, **kwargs)


def test_defaults_scale_to_the_image(tiny_G):
    session = DragSession(tiny_G)
    assert session.config.feature_block == 2  # blocks 4, 8, 16, 32: the 16 px block
    assert session.config.tracking_radius == round(12 * 32 / 512)
    assert session.config.motion_radius == 1  # round(3 * 32 / 512) is 0: kept at 1 px
    assert session.config.stop_distance == 2
    assert session.config.latent_space == "w+" and session.config.n_optimized_layers == 6
    assert "reference" in session.backend


def test_start_latent_from_seed_or_given_w(tiny_G):
    z = z_from_seed(3, tiny_G.z_dim)
    expected = tiny_G.mapping(z, None, truncation_psi=0.5)[0].numpy()
    session = DragSession(tiny_G, seed=3, truncation_psi=0.5)
    np.testing.assert_array_equal(session.w0, expected)
    np.testing.assert_array_equal(session.w, expected)
    one_w = np.arange(tiny_G.w_dim, dtype=np.float32)
    broadcast = DragSession(tiny_G, w=one_w).w
    assert broadcast.shape == (tiny_G.num_ws, tiny_G.w_dim) and (broadcast == one_w).all()
    np.testing.assert_array_equal(DragSession(tiny_G, w=session.w).w, expected)


def test_points_are_added_moved_and_removed(tiny_G):
    session = DragSession(tiny_G)
    assert session.add_point((1, 2), (3, 4)) == 0
    assert session.add_point((5.5, 6.25), (7, 8)) == 1
    assert session.add_point(np.array([9.0, 10.0]), torch.tensor([11.0, 12.0])) == 2
    np.testing.assert_array_equal(session.handles, [[1, 2], [5.5, 6.25], [9, 10]])
    session.set_target(1, (31, 0))
    np.testing.assert_array_equal(session.targets, [[3, 4], [31, 0], [11, 12]])
    session.remove_point(0)
    np.testing.assert_array_equal(session.handles, [[5.5, 6.25], [9, 10]])
    np.testing.assert_array_equal(session.targets, [[31, 0], [11, 12]])
    session.clear_points()
    assert session.handles.shape == (0, 2) and session.targets.shape == (0, 2)


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ((32, 5), "outside the 32x32 image"),
        ((5, -0.5), "outside"),
        ((float("nan"), 1), "finite"),
        ((1, float("inf")), "finite"),
        ((1, 2, 3), "pair"),
        ("1,2", "pair"),
    ],
)
def test_bad_points_are_refused(tiny_G, point, message):
    session = DragSession(tiny_G)
    with pytest.raises(ValueError, match=message):
        session.add_point(point, (1, 1))
    with pytest.raises(ValueError, match=message):
        session.add_point((1, 1), point)
    assert len(session.handles) == 0


def test_bad_point_indices_are_refused(tiny_G):
    session = DragSession(tiny_G)
    with pytest.raises(ValueError, match="no points"):
        session.remove_point(0)
    session.add_point((1, 1), (2, 2))
    with pytest.raises(ValueError, match=r"point index must be in \[0, 0\]"):
        session.set_target(1, (3, 3))
    with pytest.raises(ValueError, match="integer"):
        session.remove_point(0.0)
    with pytest.raises(ValueError, match="no points to drag"):
        DragSession(tiny_G).step()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_space": "z"}, "latent_space"),
        ({"n_optimized_layers": 0}, "n_optimized_layers"),
        ({"n_optimized_layers": 99}, "n_optimized_layers"),
        ({"lr": 0}, "lr must be > 0"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"r1": -1}, "r1"),
        ({"feature_block": 4}, r"feature_block must be in \[0, 3\]"),
        ({"tracking": "cosine"}, "tracking"),
        ({"noise_mode": "loud"}, "noise_mode"),
        ({"stop_distance": -1}, "stop_distance"),
        ({"backend": "warp-drive"}, "unknown backend"),
        ({"seed": -1}, "seed"),
        ({"w": np.zeros([3, 16])}, "w must be"),
        ({"w": np.full([16], np.nan)}, "w must be finite"),
    ],
)
def test_bad_settings_are_refused(tiny_G, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DragSession(tiny_G, **kwargs)


def test_masks_in_every_accepted_form(tiny_G):
    session = DragSession(tiny_G)
    assert session.movable_mask is None
    expected = np.zeros([32, 32], np.float32)
    expected[:, 16:] = 1
    grey = (expected * 255).astype(np.uint8)
    for mask in [expected.astype(bool), expected.astype(np.int64), grey, expected,
                 Image.fromarray(grey), torch.from_numpy(expected)]:  # fmt: skip
        session.set_mask(mask)
        np.testing.assert_array_equal(session.movable_mask, expected)
    session.set_mask(np.where(expected > 0, 200, 100).astype(np.uint8))  # 8-bit: >= 128
    np.testing.assert_array_equal(session.movable_mask, expected)
    session.set_mask(np.full([32, 32], 0.25))  # floats are weights
    assert session.movable_mask.max() == np.float32(0.25)
    session.clear_mask()
    assert session.movable_mask is None


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones([32, 31], bool), r"mask must be \[H, W\] = \[32, 32\]"),
        (np.ones([1, 32, 32], bool), "mask must be"),
        (np.full([32, 32], 1.5), r"in \[0, 1\]"),
        (np.full([32, 32], np.nan), "finite"),
        (np.full([32, 32], 300), "0..255"),
        (np.full([32, 32], "a"), "dtype"),
    ],
)
def test_bad_masks_are_refused(tiny_G, mask, message):
    with pytest.raises(ValueError, match=message):
        DragSession(tiny_G).set_mask(mask)


def test_step_result_and_w_plus_update(tiny_G):
    session = _session(tiny_G, n_optimized_layers=3)
    session.add_point((10, 12), (20, 18))
    result = session.step(render=True)
    assert isinstance(result, StepResult) and result.step == 1 and not result.done
    assert result.handles.shape == (1, 2) and result.targets.tolist() == [[20, 18]]
    np.testing.assert_allclose(
        result.distances, np.linalg.norm(result.targets - result.handles, axis=1), rtol=1e-6
    )
    assert set(result.losses) == {"motion", "mask", "total"} and result.losses["motion"] > 0
    assert result.losses["mask"] == 0 and result.losses["total"] == result.losses["motion"]
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
    assert session.step().image is None
    moved = np.abs(session.w - session.w0).max(axis=1)
    assert (moved[:3] > 0).all() and (moved[3:] == 0).all()


def test_w_space_moves_one_shared_vector(tiny_G):
    session = _session(tiny_G, latent_space="w", n_optimized_layers=4)
    session.add_point((10, 12), (20, 18))
    session.run(2, render_every=0)
    w = session.w
    assert np.abs(w[0] - session.w0[0]).max() > 0
    assert (w[:4] == w[0]).all() and (w[4:] == session.w0[4:]).all()


def test_image_is_the_synthesis_of_w(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (20, 18))
    session.step()
    ws = torch.from_numpy(session.w)[None]
    img = tiny_G.synthesis(ws, noise_mode="const")
    expected = (img[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(session.image(), expected)


def test_a_done_step_does_not_update(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (11, 12))  # 1 px away: done at once, as officially
    result = session.step()
    assert result.done and result.handles.tolist() == [[10, 12]]
    assert result.losses["motion"] == 0
    np.testing.assert_array_equal(session.w, session.w0)
    assert session.run(max_steps=5).step == 2  # stops at the first done step


def test_run_options(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (25, 18))
    seen = []
    last = session.run(max_steps=4, until_done=False, render_every=2, callback=seen.append)
    assert [r.step for r in seen] == [1, 2, 3, 4] and last is seen[-1]
    assert [r.image is not None for r in seen] == [False, True, False, True]
    stopped = session.run(max_steps=10, callback=lambda result: False)
    assert stopped.step == 5
    assert session.run(max_steps=0) is None
    with pytest.raises(ValueError, match="max_steps"):
        session.run(max_steps=-1)


def test_references_are_retaken_when_points_change(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (25, 18))
    session.step()
    references = session.state_dict()["references"]
    assert references is not None and references["handle_features"].shape[0] == 1
    session.set_target(0, (20, 20))
    session.step()
    kept = session.state_dict()["references"]  # targets moving keeps them, as officially
    assert all(torch.equal(kept[name], references[name]) for name in references)
    session.add_point((3, 3), (8, 8))
    assert session.state_dict()["references"] is None
    session.step()
    assert session.state_dict()["references"]["handle_features"].shape[0] == 2
    session.remove_point(1)
    assert session.state_dict()["references"] is None


def test_mask_term_holds_the_fixed_region(tiny_G):
    session = _session(tiny_G, lambda_mask=5)
    session.add_point((10, 12), (25, 18))
    movable = np.zeros([32, 32], bool)
    movable[4:24, 4:28] = True
    session.set_mask(movable)
    first, second = session.step(), session.step()
    assert first.losses["mask"] == 0  # F == F0 on the first forward pass
    assert second.losses["mask"] > 0
    total = second.losses["motion"] + second.losses["mask"]
    assert second.losses["total"] == pytest.approx(total, rel=1e-6)


def test_undo_restores_the_state_before_each_run(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (25, 18))
    assert session.undo() is False
    session.run(2, until_done=False, render_every=0)
    w_after_first, handles_after_first = session.w, session.handles
    session.step()
    session.step()  # consecutive steps: one run
    w_after_second = session.w
    assert session.undo() is True
    np.testing.assert_array_equal(session.w, w_after_first)
    np.testing.assert_array_equal(session.handles, handles_after_first)
    assert session.step_count == 2
    session.run(2, until_done=False, render_every=0)  # the optimizer state was restored too
    np.testing.assert_array_equal(session.w, w_after_second)
    assert session.undo() and session.undo()
    np.testing.assert_array_equal(session.w, session.w0)
    np.testing.assert_array_equal(session.handles, [[10, 12]])
    assert session.step_count == 0 and session.undo() is False


def test_reset_goes_back_to_w0_and_the_placed_handles(tiny_G):
    session = _session(tiny_G)
    session.add_point((10.5, 12), (25, 18))
    session.set_mask(np.ones([32, 32], bool))
    session.run(3, until_done=False, render_every=0)
    assert not np.array_equal(session.w, session.w0)
    session.reset()
    np.testing.assert_array_equal(session.w, session.w0)
    np.testing.assert_array_equal(session.handles, [[10.5, 12]])
    np.testing.assert_array_equal(session.targets, [[25, 18]])
    assert session.movable_mask is not None and session.step_count == 0
    assert session.undo() is False


def test_other_resolutions_and_l1_tracking():
    from tests.session.conftest import tiny_generator

    G = tiny_generator(img_resolution=64, seed=1)
    session = _session(G, tracking="l1", feature_block=None)
    assert session.config.feature_block == 3  # the 32 px block of a 64 px generator
    session.add_point((40, 20), (50, 30))
    session.add_point((5, 60), (10, 50))
    result = session.run(2, until_done=False, render_every=1)
    assert result.image.shape == (64, 64, 3) and result.handles.shape == (2, 2)
    assert np.isfinite(result.losses["total"])


def test_moving_a_handle_retakes_the_references(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (25, 18))
    session.add_point((3, 4), (8, 8))
    session.step()
    assert session.state_dict()["references"] is not None
    session.set_handle(1, (6.5, 7))
    np.testing.assert_array_equal(session.handles[1], [6.5, 7])
    np.testing.assert_array_equal(session.targets[1], [8, 8])
    assert session.state_dict()["references"] is None
    session.step()
    session.reset()
    np.testing.assert_array_equal(session.handles, [[10, 12], [6.5, 7]])
    with pytest.raises(ValueError, match="outside"):
        session.set_handle(0, (40, 1))


def test_configure_changes_step_settings_and_keeps_the_drag(tiny_G):
    session = _session(tiny_G)
    session.add_point((10, 12), (25, 18))
    session.run(2, until_done=False, render_every=0)
    w, before = session.w, session.state_dict()
    session.configure(lr=0.2, r2=40, lambda_mask=3, tracking="l1")
    assert session.config.tracking_radius == round(40 * 32 / 512)
    assert session.config.lambda_mask == 3 and session.config.tracking == "l1"
    assert session.hyperparameters["lr"] == 0.2
    after = session.state_dict()
    assert after["optimizer"]["param_groups"][0]["lr"] == 0.2
    np.testing.assert_array_equal(session.w, w)
    torch.testing.assert_close(after["references"], before["references"], rtol=0, atol=0)
    torch.testing.assert_close(after["optimizer"]["state"], before["optimizer"]["state"])
    with pytest.raises(ValueError, match="cannot change latent_space"):
        session.configure(latent_space="w")
    with pytest.raises(ValueError, match="lr must be > 0"):
        session.configure(lr=-1)
    assert session.hyperparameters["lr"] == 0.2
    session.step()
    assert session.undo() and session.undo()  # the moments go back, the settings stay
    assert session.state_dict()["optimizer"]["param_groups"][0]["lr"] == 0.2


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_steps_update_w_under_a_callers_no_grad_or_inference_mode(tiny_G, backend, mode):
    plain, guarded = (DragSession(tiny_G, backend=backend, lr=0.05) for _ in range(2))
    for session in (plain, guarded):
        session.add_point((10, 12), (20, 16))
    expected = [plain.step().handles for _ in range(3)]
    with getattr(torch, mode)():
        found = [guarded.step().handles for _ in range(3)]
        guarded.run(2, until_done=False)
    plain.run(2, until_done=False)
    np.testing.assert_array_equal(np.array(found), np.array(expected))
    assert np.abs(guarded.w - guarded.w0).max() > 0
    np.testing.assert_array_equal(guarded.w, plain.w)
