"""The fast backend on StyleGAN3 (T, R) and StyleGAN-Human against the reference backend, step
by step, on the official fixtures (../shared/fixtures), and the frozen-weight feature blocks on
StyleGAN-Human's padded squares."""

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.step.fast import FAST_PATHS_BY_FAMILY, feature_regions
from draggan_fast.stylegan.families import FAMILIES
from draggan_fast.stylegan.frozen_synthesis import FrozenFeatureSynthesis
from draggan_fast.stylegan.networks import Generator
from tests.stylegan.families_fixtures import (
    HUMAN_FIXTURE,
    load_fixture_generator,
    randomize,
    small_human,
)

CPU = torch.device("cpu")
# fixture -> the reason `session.backend` gives for its feature blocks
FEATURE_BLOCKS = {
    "stylegan3-t-64": "no StyleGAN2 blocks (StyleGAN3): the generator's own layers",
    "stylegan3-r-128": "no StyleGAN2 blocks (StyleGAN3): the generator's own layers",
    HUMAN_FIXTURE: "(StyleGAN-Human: on the rectangles, then padded)",
}


def _drag_sessions(G, **settings):
    size = G.img_resolution
    sessions = {}
    for backend in ("reference", "fast"):
        session = DragSession(G, seed=1, backend=backend, lr=0.01, **settings)
        session.add_point((size // 2, size // 2), (size // 2 + size // 8, size // 2 + 2))
        session.add_point((size // 3, size // 2 - 5), (size // 3 - size // 10, size // 2 - 5))
        sessions[backend] = session
    return sessions


@pytest.mark.parametrize("name", list(FEATURE_BLOCKS))
def test_fast_backend_follows_the_reference_on_every_family(fixtures_dir, name):
    G = load_fixture_generator(fixtures_dir, name)
    sessions = _drag_sessions(G)
    steps = 3
    for step in range(steps):
        render = step == steps - 1
        expected = sessions["reference"].step(render=render)
        result = sessions["fast"].step(render=render)
        np.testing.assert_array_equal(result.handles, expected.handles)
        assert result.done == expected.done
        for name_ in ("motion", "total"):
            assert result.losses[name_] == pytest.approx(expected.losses[name_], rel=1e-4)
    fast, reference = sessions["fast"], sessions["reference"]
    np.testing.assert_allclose(fast.w, reference.w, rtol=0, atol=1e-5)
    assert np.abs(fast.w - fast.w0).max() > 1e-3  # it did move
    difference = np.abs(result.image.astype(np.int16) - expected.image.astype(np.int16))
    assert result.image.shape == (G.img_resolution, G.img_resolution, 3)
    assert difference.max() <= 1
    assert FEATURE_BLOCKS[name] in fast.backend


def test_fast_backend_follows_the_reference_on_human_with_a_mask(fixtures_dir):
    G = load_fixture_generator(fixtures_dir, HUMAN_FIXTURE)
    sessions = _drag_sessions(G, r1=6)
    movable = np.zeros((64, 64), dtype=bool)
    movable[10:50, 20:44] = True
    for session in sessions.values():
        session.set_mask(movable)
    for _ in range(3):
        expected = sessions["reference"].step()
        result = sessions["fast"].step()
        np.testing.assert_array_equal(result.handles, expected.handles)
        assert result.losses["mask"] == pytest.approx(expected.losses["mask"], rel=1e-4, abs=1e-9)
    np.testing.assert_allclose(sessions["fast"].w, sessions["reference"].w, rtol=0, atol=1e-5)


def test_frozen_blocks_apply_only_to_stylegan2_blocks(fixtures_dir):
    sg3 = load_fixture_generator(fixtures_dir, "stylegan3-t-64")
    applies, reason = FrozenFeatureSynthesis.applies(sg3.synthesis, 5, CPU)
    assert not applies and "StyleGAN3" in reason
    human = small_human()
    assert FrozenFeatureSynthesis.applies(human.synthesis, 2, CPU) == (
        True,
        "CPU float32: demodulation from precomputed weight squares "
        "(StyleGAN-Human: on the rectangles, then padded)",
    )


def test_frozen_blocks_on_human_match_the_padded_generator_dense_and_on_regions():
    torch.manual_seed(3)
    G = Generator(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=32, channel_base=128, channel_max=8,
        num_fp16_res=0, square=False, padding=True, mapping_kwargs={"num_layers": 2},
    )  # fmt: skip
    G = randomize(G, seed=3)
    block = 2  # 16 x 8 rectangles, padded to 16 x 16 (the image: 32 x 16 in 32 x 32)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(7)))
    frozen = FrozenFeatureSynthesis(G.synthesis, feature_block=block)
    frozen.fix_rows(ws, trainable_rows=3)
    expected, expected_img = G.synthesis.run_blocks(ws, 0, block + 1)
    assert expected.shape[2:] == (16, 16)
    features, outputs = frozen.features(ws, "const")
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(frozen.image_so_far(ws, outputs), expected_img, rtol=1e-5, atol=1e-6)

    # (row, col) of the padded 32 x 32 image; the last one in the white margin (no box)
    handles = torch.tensor([[6.0, 12.0], [24.0, 18.0], [10.0, 1.0]])
    regions, area = frozen.handle_regions(handles, extent=1)
    assert area == 16 * 8 and len(regions) == 2
    assert all(
        0 <= left < right <= 8 and 0 <= top < bottom <= 16 for top, bottom, left, right in regions
    )
    assert sum((bottom - top) * (right - left) for top, bottom, left, right in regions) < area
    cropped, cropped_outputs = frozen.features(ws, "const", regions)
    inside = torch.zeros(16, 16, dtype=torch.bool)
    for top, bottom, left, right in regions:  # rectangle columns -> padded columns (+4)
        inside[top:bottom, left + 4 : right + 4] = True
    torch.testing.assert_close(cropped * inside, expected * inside, rtol=1e-5, atol=1e-6)
    assert cropped[:, :, ~inside].abs().sum() == 0
    completed = frozen.dense_outputs(ws, cropped_outputs, "const")
    torch.testing.assert_close(G.synthesis.pad(completed[-1], 0.0), expected, rtol=1e-5, atol=1e-6)


def test_fast_human_steps_read_regions_when_they_pay(fixtures_dir):
    """The Human drag above takes the regions path after its first step (no mask)."""
    G = load_fixture_generator(fixtures_dir, HUMAN_FIXTURE)
    session = _drag_sessions(G)["fast"]
    session.step()
    backend = session._backend
    state = session._state()
    frozen = backend._frozen.synthesis
    assert frozen is not None and state.references is not None
    assert feature_regions(frozen, state, state.config) is not None


def test_every_family_has_its_fast_paths_listed():
    assert set(FAST_PATHS_BY_FAMILY) == set(FAMILIES)
    assert all(len(paths) == 4 for paths in FAST_PATHS_BY_FAMILY.values())


def test_fast_backend_follows_the_reference_from_humans_white_margin(fixtures_dir):
    """A handle in the padding (x < 16 of 64) reads zeros, on the fast path's regions too."""
    G = load_fixture_generator(fixtures_dir, HUMAN_FIXTURE)
    sessions = {b: DragSession(G, seed=2, backend=b, lr=0.01) for b in ("reference", "fast")}
    for session in sessions.values():
        session.add_point((4, 30), (20, 30))
        session.add_point((40, 20), (44, 24))
    for _ in range(3):
        expected = sessions["reference"].step()
        result = sessions["fast"].step()
        np.testing.assert_array_equal(result.handles, expected.handles)
    np.testing.assert_allclose(sessions["fast"].w, sessions["reference"].w, rtol=0, atol=1e-5)
