"""StyleGAN-Human against the official network (../shared/fixtures/stylegan_human-64): H x H/2
generators padded to squares as DragGAN builds them (image with white, features with zeros),
the unpadded rectangle, and recognition with or without `square`/`padding` stored."""

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.stylegan.families import detect_family, normalize_kwargs
from tests.stylegan.families_fixtures import (
    HUMAN_FIXTURE,
    TOLERANCE,
    fixture_outputs,
    load_fixture_generator,
    small_human,
)


@pytest.fixture(scope="module")
def human_G(fixtures_dir):
    return load_fixture_generator(fixtures_dir, HUMAN_FIXTURE)


def test_mapping_image_and_features_match_official(fixtures_dir, human_G):
    data, meta = fixture_outputs(fixtures_dir, HUMAN_FIXTURE)
    assert meta["human"] and human_G.family == "stylegan_human"
    assert human_G.image_shape == (64, 32) and human_G.synthesis.b4.const.shape[1:] == (4, 2)
    ws = human_G.mapping(torch.from_numpy(data["z"]), None, truncation_psi=0.7)
    torch.testing.assert_close(ws, torch.from_numpy(data["ws_psi07"]), rtol=0, atol=TOLERANCE)
    img, features = human_G.synthesis(torch.from_numpy(data["ws_psi07"]), return_features=True)
    assert list(img.shape) == meta["img_shape"]  # the padded square
    torch.testing.assert_close(img, torch.from_numpy(data["img"]), rtol=0, atol=TOLERANCE)
    feature_keys = [k for k in data.files if k.startswith("feat/")]
    assert len(feature_keys) == len(features) == 5
    for key in feature_keys:
        expected = torch.from_numpy(data[key])  # block outputs zero-padded to squares
        assert human_G.feature_shape(int(key[5:])) == expected.shape[1:]
        torch.testing.assert_close(features[int(key[5:])], expected, rtol=0, atol=TOLERANCE)


def test_padding_is_white_and_unpad_returns_the_rectangle(fixtures_dir, human_G):
    data, _ = fixture_outputs(fixtures_dir, HUMAN_FIXTURE)
    img, features = human_G.synthesis(torch.from_numpy(data["ws_psi07"]), return_features=True)
    assert bool((img[..., :16] == 1).all()) and bool((img[..., 48:] == 1).all())
    rectangle = human_G.unpad(img)
    assert rectangle.shape == (2, 3, 64, 32)
    assert torch.equal(rectangle, img[..., 16:48])
    for feature in features:  # zero margins left and right, the map in the middle
        quarter = feature.shape[3] // 4
        assert bool((feature[..., :quarter] == 0).all())
        assert human_G.unpad(feature).shape[3] == feature.shape[3] // 2


@pytest.mark.parametrize("stop", [1, 2])
def test_run_blocks_split_equals_the_whole(stop):
    G = small_human()
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    img, features = G.synthesis(ws, return_features=True)
    x, partial = G.synthesis.run_blocks(ws, 0, stop)
    assert torch.equal(x, features[stop - 1]) and x.shape[2] == x.shape[3]  # padded square
    assert partial.shape[3] == partial.shape[2] // 2  # the image so far stays a rectangle
    _, rest = G.synthesis.run_blocks(ws, stop, None, x=x, img=partial)
    assert torch.equal(rest, img)


def test_random_noise_has_the_rectangle_shape():
    G = small_human()
    img = G.synthesis(G.mapping(torch.randn(2, G.z_dim), None), noise_mode="random")
    assert img.shape == (2, 3, 16, 16)


@pytest.mark.parametrize("stored", ["both", "square only", "neither"])
def test_recognised_with_or_without_square_and_padding_stored(fixtures_dir, stored):
    """StyleGAN-Human pickles may or may not store `square`/`padding`; the const input's
    H x H/2 shape tells the family, and DragGAN's convention (padding) always applies."""
    _, meta = fixture_outputs(fixtures_dir, HUMAN_FIXTURE)
    kwargs = dict(meta["init_kwargs"])
    if stored != "both":
        kwargs.pop("padding")
    if stored == "neither":
        kwargs.pop("square")
    state = {"synthesis.b4.const": torch.zeros(32, 4, 2)}
    assert detect_family(kwargs, state) == "stylegan_human"
    ours = normalize_kwargs("stylegan_human", kwargs)
    assert ours["square"] is False and ours["padding"] is True
    assert detect_family(
        kwargs | {"square": True}, {"synthesis.b4.const": torch.zeros(8, 4, 4)}
    ) == ("stylegan2")


def test_positional_human_init_args_follow_its_constructor():
    """StyleGAN-Human's constructor puts `square` before `img_channels`."""
    args = (8, 0, 8, 16, False, 3, {"num_layers": 2}, {"channel_base": 128, "channel_max": 8})
    ours = normalize_kwargs("stylegan_human", {}, args)
    assert ours["img_channels"] == 3 and ours["channel_base"] == 128 and ours["square"] is False


def test_reference_drag_on_a_padded_human_generator():
    """The reference backend drags a StyleGAN-Human generator on its padded square, as the
    official renderer does: the latent moves, the rendered image keeps its white margins."""
    G = small_human()
    session = DragSession(G, backend="reference", seed=0, feature_block=2, lr=0.05)
    session.add_point((6, 5), (10, 12))  # (x, y) inside the 16 x 8 rectangle (cols 4-11)
    results = [session.step(render=True) for _ in range(3)]
    image = results[-1].image  # uint8 [16, 16, 3]
    assert image.shape == (16, 16, 3)
    assert (image[:, :4] == 255).all() and (image[:, 12:] == 255).all()
    assert session.w.shape == (G.num_ws, G.w_dim) and not np.array_equal(session.w, session.w0)
