"""StyleGAN3 (configs T and R) against the official networks' outputs (../shared/fixtures
stylegan3-t-64 and stylegan3-r-128): mapping, image, every feature the renderer sees, the
filters we design, and the engine's block-wise interface."""

import pytest
import torch

from draggan_fast.stylegan import networks_stylegan3
from draggan_fast.stylegan.families import normalize_kwargs
from tests.stylegan.families_fixtures import (
    SG3_FIXTURES,
    TOLERANCE,
    fixture_outputs,
    small_stylegan3,
)


@pytest.mark.parametrize("name", SG3_FIXTURES)
def test_mapping_matches_official(fixtures_dir, sg3_fixture_generators, name):
    data, meta = fixture_outputs(fixtures_dir, name)
    G = sg3_fixture_generators[name]
    assert G.family == "stylegan3" and G.num_ws == meta["num_ws"]
    ws = G.mapping(torch.from_numpy(data["z"]), None, truncation_psi=0.7)
    torch.testing.assert_close(ws, torch.from_numpy(data["ws_psi07"]), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", SG3_FIXTURES)
def test_image_and_every_feature_match_official(
    fixtures_dir,
    sg3_fixture_generators,
    name,
):
    data, meta = fixture_outputs(fixtures_dir, name)
    G = sg3_fixture_generators[name]
    ws = torch.from_numpy(data["ws_psi07"])
    img, features = G.synthesis(ws, noise_mode="const", return_features=True)
    assert list(img.shape) == meta["img_shape"]
    assert len(features) == len(G.synthesis.blocks) == G.num_ws - 1
    torch.testing.assert_close(img, torch.from_numpy(data["img"]), rtol=0, atol=TOLERANCE)
    feature_keys = [k for k in data.files if k.startswith("feat/")]
    assert len(feature_keys) == 8
    for key in feature_keys:
        expected = torch.from_numpy(data[key])  # the output of layer L<i>, margins included
        assert G.feature_shape(int(key[5:])) == expected.shape[1:]
        torch.testing.assert_close(features[int(key[5:])], expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", SG3_FIXTURES)
def test_designed_filters_equal_the_stored_ones(fixtures_dir, sg3_fixture_generators, name):
    """A fresh generator of the fixture's config designs every up/down filter (separable Kaiser
    and, for R, radial jinc) as the official scipy code did, and has the same state names."""
    _, meta = fixture_outputs(fixtures_dir, name)
    loaded = sg3_fixture_generators[name]
    kwargs = normalize_kwargs("stylegan3", meta["init_kwargs"])
    with torch.device("cpu"):
        fresh = networks_stylegan3.Generator(**kwargs)
    assert fresh.state_dict().keys() == loaded.state_dict().keys()
    filters = [k for k in loaded.state_dict() if k.endswith(("up_filter", "down_filter"))]
    assert any(loaded.state_dict()[k].ndim == 2 for k in filters) == ("-r-" in name)
    for key in filters:
        torch.testing.assert_close(
            fresh.state_dict()[key], loaded.state_dict()[key], rtol=1e-6, atol=1e-7
        )


@pytest.mark.parametrize("stop", [1, 3, 5])
def test_run_blocks_split_equals_the_whole(fixtures_dir, sg3_fixture_generators, stop):
    """The drag step's view: layers [0, stop) then the rest give the same image and features."""
    data, _ = fixture_outputs(fixtures_dir, "stylegan3-r-128")
    G = sg3_fixture_generators["stylegan3-r-128"]
    ws = torch.from_numpy(data["ws_psi07"])[:1]
    img, features = G.synthesis(ws, return_features=True)
    x, partial = G.synthesis.run_blocks(ws, 0, stop)
    assert partial.shape == (1, 3, 0, 0)  # no image yet: StyleGAN3 builds it in the last layer
    assert torch.equal(x, features[stop - 1])
    _, rest = G.synthesis.run_blocks(ws, stop, None, x=x, img=partial)
    assert torch.equal(rest, img)


@pytest.mark.parametrize("radial", [False, True])
def test_gradients_reach_the_latent(radial):
    G = small_stylegan3(radial=radial)
    ws = G.mapping(torch.randn(1, G.z_dim), None).detach().requires_grad_(True)
    x, _ = G.synthesis.run_blocks(ws, 0, 3)
    x.square().mean().backward()
    assert ws.grad is not None and bool(torch.isfinite(ws.grad).all())
    assert ws.grad[0, :4].abs().sum() > 0 and ws.grad[0, 4:].abs().sum() == 0  # L3+ unused


def test_input_transform_moves_the_image():
    """`synthesis.input.transform` (the inverse image transform DragGAN's renderer sets) shifts
    the Fourier features: a translation changes the image, the identity leaves it."""
    G = small_stylegan3()
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    img = G.synthesis(ws)
    G.synthesis.input.transform.copy_(torch.eye(3))
    assert torch.equal(G.synthesis(ws), img)
    G.synthesis.input.transform[0, 2] = 0.25
    assert not torch.allclose(G.synthesis(ws), img, atol=1e-3)


def test_wrong_ws_shape_is_named():
    G = small_stylegan3()
    with pytest.raises(ValueError, match=r"ws must be \[N, 6, 8\]"):
        G.synthesis(torch.zeros(1, 5, 8))
