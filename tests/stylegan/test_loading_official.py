"""Official persistence pickles (stylegan2-ada-pytorch, stylegan3 repo, DragGAN) built by the tests:
nested and flat kwargs, every pickle protocol, the real fixture configs, the convert CLI, errors."""

import io
import pickle
import sys

import numpy as np
import pytest
import torch

import draggan_fast
from draggan_fast.cli import main as cli_main
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator
from tests.fixture_generators import generator_from_fixture, load_fixture
from tests.stylegan.pickle_official import (
    EasyDict,
    PersistentRecord,
    dumps,
    marker_source,
    module_record,
    nested_kwargs,
    official_checkpoint,
    small_generator,
)


@pytest.fixture(scope="module")
def small_G():
    return small_generator()


def _assert_loads_as(G, loaded):
    assert loaded.init_kwargs["img_resolution"] == G.img_resolution
    assert loaded.state_dict().keys() == G.state_dict().keys()
    for name, value in G.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(3))
    assert torch.equal(loaded(z, truncation_psi=0.7), G(z, truncation_psi=0.7))
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_nested_kwargs_every_protocol(small_G, tmp_path, protocol):
    marker = tmp_path / "executed"
    checkpoint = official_checkpoint(
        small_G, nested_kwargs(small_G.init_kwargs), module_src=marker_source(marker)
    )
    loaded = load_generator(io.BytesIO(dumps(checkpoint, protocol=protocol)))
    _assert_loads_as(small_G, loaded)
    assert not marker.exists()
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules


def test_flat_kwargs_as_the_stylegan3_repo_writes(small_G, tmp_path):
    flat = dict(small_G.init_kwargs, fused_modconv_default="inference_only")
    flat["magnitude_ema_beta"] = 0.5 ** (32 / 20e3)
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(dumps(official_checkpoint(small_G, flat)))
    loaded = draggan_fast.load_generator(path)
    _assert_loads_as(small_G, loaded)
    assert loaded.init_kwargs["fused_modconv_default"] == "inference_only"
    assert "magnitude_ema_beta" not in loaded.init_kwargs


def test_conditional_generator():
    G = small_generator(seed=4, c_dim=5)
    loaded = load_generator(io.BytesIO(dumps(official_checkpoint(G, nested_kwargs(G.init_kwargs)))))
    z, c = torch.randn([2, G.z_dim]), torch.eye(5)[1:3]
    assert torch.equal(loaded(z, c, truncation_psi=0.7), G(z, c, truncation_psi=0.7))
    assert "mapping.embed.weight" in loaded.state_dict()


def test_positional_init_args(small_G):
    kwargs = nested_kwargs(small_G.init_kwargs)
    names = ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"]
    args = [kwargs.pop(name) for name in names]
    checkpoint = official_checkpoint(small_G, kwargs, init_args=args)
    _assert_loads_as(small_G, load_generator(io.BytesIO(dumps(checkpoint))))


@pytest.mark.parametrize("fixture", ["sg2_64_ada", "sg2_64_sg3kw_clamp"])
def test_real_official_configs_match_the_fixture_images(fixtures_dir, fixture):
    """The fixture's init_kwargs exactly as official pickles store them (nested or flat)."""
    data, meta = load_fixture(fixtures_dir, fixture)
    G = generator_from_fixture(fixtures_dir, fixture)
    init_kwargs = meta["init_kwargs"]
    if "synthesis_kwargs" in init_kwargs:
        init_kwargs = dict(init_kwargs, synthesis_kwargs=EasyDict(init_kwargs["synthesis_kwargs"]))
    loaded = load_generator(io.BytesIO(dumps(official_checkpoint(G, init_kwargs), protocol=4)))
    z = torch.from_numpy(data["z"])
    image = loaded.synthesis(loaded.mapping(z, truncation_psi=0.7), noise_mode="const")
    assert (image - torch.from_numpy(data["img_const"])).abs().max() <= 1e-4


def test_convert_cli_end_to_end(small_G, tmp_path, capsys):
    source, dest = tmp_path / "stylegan2-tiny.pkl", tmp_path / "tiny.safetensors"
    source.write_bytes(dumps(official_checkpoint(small_G, nested_kwargs(small_G.init_kwargs))))
    assert cli_main(["convert", str(source), str(dest)]) == 0
    assert f"wrote {dest}" in capsys.readouterr().out
    _assert_loads_as(small_G, load_generator(dest))


def test_convert_cli_reports_a_bad_pickle_in_one_line(tmp_path, capsys):
    source = tmp_path / "broken.pkl"
    source.write_bytes(pickle.dumps({"G": 1}))
    assert cli_main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "no G_ema" in err and err.count("\n") == 1
    assert not (tmp_path / "out.safetensors").exists()


def _load(checkpoint, protocol=4):
    return load_generator(io.BytesIO(dumps(checkpoint, protocol=protocol)))


def test_no_G_ema(small_G):
    checkpoint = official_checkpoint(small_G, nested_kwargs(small_G.init_kwargs))
    del checkpoint["G_ema"]
    with pytest.raises(CheckpointError, match=r"no G_ema in the pickle \(keys: D, G, "):
        _load(checkpoint)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "holds a list, not a dict with G_ema"),
        ({"G_ema": {"weights": 1}}, "G_ema is a dict, not a persistent module"),
        ({"G_ema": PersistentRecord("Discriminator", {})}, "'Discriminator', not a Generator"),
        ({"G_ema": PersistentRecord("Generator", {})}, "no constructor kwargs"),
        ({"G_ema": PersistentRecord("Generator", {}, version=5)}, "version 5"),
    ],
)
def test_not_an_official_generator(payload, message):
    with pytest.raises(CheckpointError, match=message):
        _load(payload)


def test_stylegan2_weights_with_a_stylegan3_input_layer_are_refused(small_G):
    """Weights that name a StyleGAN3 input layer make the checkpoint a StyleGAN3 one, which the
    StyleGAN2 rest of the weights then does not fit: an error naming them, nothing half-built."""
    checkpoint = official_checkpoint(small_G, nested_kwargs(small_G.init_kwargs))
    synthesis = checkpoint["G_ema"].state["_modules"]["synthesis"]
    synthesis.state["_modules"]["input"] = PersistentRecord(
        "SynthesisInput", {"_buffers": {"freqs": torch.zeros(4, 2)}, "_modules": {}}
    )
    with pytest.raises(CheckpointError, match="weights do not fit the config: missing"):
        _load(checkpoint)


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_other_architectures_are_named(small_G, architecture):
    kwargs = nested_kwargs(small_G.init_kwargs)
    kwargs["synthesis_kwargs"]["architecture"] = architecture
    with pytest.raises(CheckpointError, match=f"unsupported architecture '{architecture}'"):
        _load(official_checkpoint(small_G, kwargs))


def test_state_that_does_not_fit_is_named(small_G):
    checkpoint = official_checkpoint(small_G, nested_kwargs(small_G.init_kwargs))
    b8 = checkpoint["G_ema"].state["_modules"]["synthesis"].state["_modules"]["b8"]
    del b8.state["_modules"]["conv0"].state["_parameters"]["bias"]
    b8.state["_modules"]["torgb"].state["_parameters"]["weight"] = torch.zeros(3, 5, 1, 1)
    b8.state["_buffers"]["extra"] = torch.zeros(2)
    with pytest.raises(CheckpointError) as info:
        _load(checkpoint)
    message = str(info.value)
    assert "missing synthesis.b8.conv0.bias" in message
    assert "unexpected synthesis.b8.extra" in message
    assert "synthesis.b8.torgb.weight [3, 5, 1, 1] (config expects [3, 16, 1, 1])" in message


def test_config_and_state_disagree(small_G):
    kwargs = nested_kwargs(small_G.init_kwargs)
    kwargs["synthesis_kwargs"]["channel_max"] = 8
    with pytest.raises(CheckpointError, match="weights do not fit the config: wrong shape"):
        _load(official_checkpoint(small_G, kwargs))


def test_numpy_array_parameters_are_accepted(small_G):
    """Arrays where tensors are expected (seen in hand-made pickles) are read as tensors."""
    record = module_record(small_G, "", (), nested_kwargs(small_G.init_kwargs))
    record.state["_modules"]["mapping"].state["_buffers"]["w_avg"] = np.asarray(
        small_G.mapping.w_avg.numpy()
    )
    _assert_loads_as(small_G, _load({"G_ema": record}))


@pytest.mark.parametrize("keep_fraction", [0.01, 0.5, 0.999])
def test_truncated_pickle(small_G, tmp_path, keep_fraction):
    data = dumps(official_checkpoint(small_G, nested_kwargs(small_G.init_kwargs)))
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(CheckpointError, match="truncated"):
        load_generator(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, I am a text file\n", "not a checkpoint"),
        (b"\x89PNG\r\n\x1a\n....", "not a checkpoint"),
        (b"\x80\x04\x88\xff", "not a valid pickle"),
    ],
)
def test_not_a_pickle(tmp_path, content, message):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_generator(path)
