"""The generator reproduces the official StyleGAN2 outputs recorded in ../shared/fixtures."""

import pytest
import torch

from draggan_fast.stylegan import Generator
from tests.fixture_generators import PARITY_FIXTURES, generator_from_fixture, load_fixture

TOL = 1e-4


def _max_err(actual, expected):
    return float((actual - torch.from_numpy(expected)).abs().max())


@pytest.mark.parametrize("name", [*PARITY_FIXTURES, "sg2_64_tf"])
def test_state_dict_keys_match_official(fixtures_dir, name):
    data, meta = load_fixture(fixtures_dir, name)
    G = generator_from_fixture(fixtures_dir, name)
    official = {k[len("state/") :] for k in data if k.startswith("state/")}
    assert set(G.state_dict()) == official
    assert G.num_ws == meta["num_ws"]
    assert (G.z_dim, G.w_dim, G.img_resolution) == (
        meta["z_dim"],
        meta["w_dim"],
        meta["img_resolution"],
    )


@pytest.mark.parametrize("name", PARITY_FIXTURES)
def test_mapping_parity(fixtures_dir, name):
    data, _ = load_fixture(fixtures_dir, name)
    G = generator_from_fixture(fixtures_dir, name)
    z = torch.from_numpy(data["z"])
    assert _max_err(G.mapping(z), data["ws_psi1"]) <= TOL
    assert _max_err(G.mapping(z, truncation_psi=0.7), data["ws_psi07"]) <= TOL


@pytest.mark.parametrize("name", PARITY_FIXTURES)
@pytest.mark.parametrize("fused_modconv", [True, False])
def test_synthesis_parity_images_and_features(fixtures_dir, name, fused_modconv):
    data, _ = load_fixture(fixtures_dir, name)
    G = generator_from_fixture(fixtures_dir, name)
    ws = torch.from_numpy(data["ws_psi07"])
    img, features = G.synthesis(
        ws, noise_mode="const", return_features=True, fused_modconv=fused_modconv
    )
    assert img.shape == data["img_const"].shape
    assert _max_err(img, data["img_const"]) <= TOL
    assert len(features) == len(G.synthesis.block_resolutions)
    for index, feature in enumerate(features):
        assert _max_err(feature, data[f"feat/{index}"]) <= TOL, f"block {index}"
    img_none = G.synthesis(ws, noise_mode="none", fused_modconv=fused_modconv)
    assert _max_err(img_none, data["img_none"]) <= TOL


def test_generator_forward_equals_mapping_then_synthesis(fixtures_dir):
    data, _ = load_fixture(fixtures_dir, "sg2_64_ada")
    G = generator_from_fixture(fixtures_dir, "sg2_64_ada")
    z = torch.from_numpy(data["z"])
    assert _max_err(G(z, truncation_psi=0.7), data["img_const"]) <= TOL


def test_batch_samples_are_independent(fixtures_dir):
    data, _ = load_fixture(fixtures_dir, "sg2_64_ada")
    G = generator_from_fixture(fixtures_dir, "sg2_64_ada")
    ws = torch.from_numpy(data["ws_psi07"])
    both = G.synthesis(ws)
    for i in range(ws.shape[0]):
        assert torch.allclose(G.synthesis(ws[i : i + 1]), both[i : i + 1], atol=1e-5)


def test_noise_modes():
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, channel_base=256, channel_max=8)
    with torch.no_grad():
        for block in G.synthesis.blocks:
            for layer in (getattr(block, "conv0", None), block.conv1):
                if layer is not None:
                    layer.noise_strength.fill_(0.5)
    ws = G.mapping(torch.randn(1, 8))
    const_a, const_b = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    random_a, random_b = G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random")
    none = G.synthesis(ws, noise_mode="none")
    assert torch.equal(const_a, const_b)
    assert not torch.equal(random_a, random_b)
    assert not torch.allclose(none, const_a)


def test_truncation_cutoff_and_conditioning():
    G = Generator(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, channel_base=64, channel_max=8)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    z, c = torch.randn(2, 8), torch.eye(3)[:2]
    full = G.mapping(z, c)
    cut = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], G.mapping.w_avg.lerp(full[:, :2], 0.5))
    assert torch.equal(cut[:, 2:], full[:, 2:])
    assert not torch.allclose(G.mapping(z, torch.eye(3)[1:]), full)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)


def test_bad_ws_shape_is_rejected():
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, channel_base=64, channel_max=8)
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(torch.zeros(1, G.num_ws + 1, 8))
