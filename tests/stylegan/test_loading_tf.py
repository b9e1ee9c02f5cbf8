"""Legacy TensorFlow pickles: the real fixture (sg2_64_tf.pkl), pickles the tests build from our
generators by inverting the official conversion, and every way such a pickle can be unusable."""

import io

import numpy as np
import pytest
import torch

from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator
from tests.fixture_generators import load_fixture
from tests.stylegan.pickle_official import small_generator
from tests.stylegan.pickle_tf import tf_pickle, tf_static_kwargs


@pytest.fixture(scope="module")
def small_G():
    return small_generator(seed=1)


def test_real_tf_fixture_state_and_images(fixtures_dir):
    data, meta = load_fixture(fixtures_dir, "sg2_64_tf")
    G = load_generator(fixtures_dir / "sg2_64_tf.pkl")
    expected = {k[len("state/") :]: data[k] for k in data if k.startswith("state/")}
    assert G.state_dict().keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(G.state_dict()[name], torch.from_numpy(value)), name
    for key in ("z_dim", "w_dim", "img_resolution"):
        assert getattr(G, key) == meta[key]
    z = torch.from_numpy(data["z"])
    ws = G.mapping(z, truncation_psi=0.7)
    assert (ws - torch.from_numpy(data["ws_psi07"])).abs().max() <= 1e-4
    for noise_mode in ("const", "none"):
        image = G.synthesis(ws, noise_mode=noise_mode)
        assert (image - torch.from_numpy(data[f"img_{noise_mode}"])).abs().max() <= 1e-4


@pytest.mark.parametrize("protocol", [2, 4])
def test_built_tf_pickle_round_trips(small_G, protocol):
    loaded = load_generator(io.BytesIO(tf_pickle(small_G, protocol=protocol)))
    assert loaded.state_dict().keys() == small_G.state_dict().keys()
    for name, value in small_G.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    z = torch.randn([2, small_G.z_dim], generator=torch.Generator().manual_seed(5))
    assert torch.equal(loaded(z, truncation_psi=0.5), small_G(z, truncation_psi=0.5))
    assert loaded.init_kwargs["channel_base"] == small_G.init_kwargs["channel_base"]


def test_conditional_tf_generator():
    G = small_generator(seed=2, c_dim=3)
    loaded = load_generator(io.BytesIO(tf_pickle(G)))
    z, c = torch.randn([2, G.z_dim]), torch.eye(3)[:2]
    assert torch.equal(loaded(z, c, truncation_psi=0.7), G(z, c, truncation_psi=0.7))


def test_tf_build_source_is_never_executed(small_G):
    """The stand-in networks carry `raise RuntimeError` as build_module_src."""
    assert load_generator(io.BytesIO(tf_pickle(small_G))).img_resolution == 16


def test_old_tf_version(small_G):
    with pytest.raises(CheckpointError, match="version 3 is too old"):
        load_generator(io.BytesIO(tf_pickle(small_G, version=3)))


def test_unknown_tf_kwarg_is_named(small_G):
    static_kwargs = {**tf_static_kwargs(small_G), "use_magic": True}
    with pytest.raises(CheckpointError, match="unknown TensorFlow kwargs: use_magic"):
        load_generator(io.BytesIO(tf_pickle(small_G, static_kwargs=static_kwargs)))


def test_resnet_tf_generator_is_named(small_G):
    static_kwargs = {**tf_static_kwargs(small_G), "architecture": "resnet"}
    with pytest.raises(CheckpointError, match="unsupported architecture 'resnet'"):
        load_generator(io.BytesIO(tf_pickle(small_G, static_kwargs=static_kwargs)))


def test_per_lod_torgb_means_orig_architecture(small_G):
    extra = {"ToRGB_lod0/weight": np.zeros([1, 1, 16, 3], np.float32)}
    with pytest.raises(CheckpointError, match="unsupported architecture 'orig'"):
        load_generator(io.BytesIO(tf_pickle(small_G, extra_synthesis_variables=extra)))


def test_missing_tf_variable_is_named(small_G):
    static_kwargs = {**tf_static_kwargs(small_G), "resolution": 32}
    with pytest.raises(CheckpointError, match=r"TensorFlow variables missing: .*32x32/Conv0_up"):
        load_generator(io.BytesIO(tf_pickle(small_G, static_kwargs=static_kwargs)))


def test_mis_shaped_tf_variable_is_named(small_G):
    extra = {"8x8/Conv1/bias": np.zeros([5], np.float32)}
    with pytest.raises(CheckpointError, match=r"synthesis\.b8\.conv1\.bias \[5\]"):
        load_generator(io.BytesIO(tf_pickle(small_G, extra_synthesis_variables=extra)))


@pytest.mark.parametrize("keep_bytes", [100, 2_000_000, -5])
def test_truncated_real_tf_pickle(fixtures_dir, keep_bytes):
    data = (fixtures_dir / "sg2_64_tf.pkl").read_bytes()
    with pytest.raises(CheckpointError, match="truncated"):
        load_generator(io.BytesIO(data[:keep_bytes]))
