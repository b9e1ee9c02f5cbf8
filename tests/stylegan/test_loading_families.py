"""Loading StyleGAN3 and StyleGAN-Human checkpoints: the official fixture pickles through
`draggan-fast convert` and back, pickles built from our networks, code hidden in them never
running, and non-finite weights refused by name (pickle and safetensors)."""

import io
import os
import pickle
import shlex
import sys

import pytest
import safetensors.torch
import torch

from draggan_fast.cli import main as cli_main
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator, save_generator
from draggan_fast.stylegan.native_format import encode_generator
from tests.stylegan.families_fixtures import (
    HUMAN_FIXTURE,
    SG3_FIXTURES,
    small_human,
    small_stylegan3,
)
from tests.stylegan.pickle_official import (
    dumps,
    marker_source,
    official_checkpoint,
    official_module_names,
)


def _equal_generators(a, b):
    assert type(a) is type(b) and a.family == b.family and a.init_kwargs == b.init_kwargs
    assert a.state_dict().keys() == b.state_dict().keys()
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), name
    ws = a.mapping(torch.randn(1, a.z_dim, generator=torch.Generator().manual_seed(0)), None)
    assert torch.equal(a.synthesis(ws), b.synthesis(ws))


@pytest.mark.parametrize("name", [*SG3_FIXTURES, HUMAN_FIXTURE])
def test_convert_round_trip_of_the_official_pickles(fixtures_dir, tmp_path, capsys, name):
    source = fixtures_dir / f"{name}.pkl"
    dest = tmp_path / f"{name}.safetensors"
    assert cli_main(["convert", str(source), str(dest)]) == 0
    assert f"wrote {dest}" in capsys.readouterr().out
    _equal_generators(load_generator(source), load_generator(dest))
    assert "torch_utils" not in sys.modules  # the official source in the pickle never ran


@pytest.mark.parametrize(
    "make", [small_stylegan3, lambda: small_stylegan3(radial=True), small_human]
)
def test_pickles_of_our_networks_load_and_their_source_never_runs(tmp_path, make):
    G = make()
    marker = tmp_path / "executed"
    checkpoint = official_checkpoint(G, G.init_kwargs, module_src=marker_source(marker))
    loaded = load_generator(io.BytesIO(dumps(checkpoint, protocol=4)))
    _equal_generators(G, loaded)
    assert not marker.exists()


class _Call:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("make", [small_stylegan3, small_human])
def test_code_hidden_in_a_layer_is_refused(tmp_path, make):
    """An otherwise valid StyleGAN3 / StyleGAN-Human pickle whose first synthesis layer carries
    an `os.system` call: the stock unpickler runs it; load_generator refuses the global and
    nothing runs."""
    G = make()
    marker = tmp_path / "pwned"
    checkpoint = official_checkpoint(G, G.init_kwargs)
    synthesis = checkpoint["G_ema"].state["_modules"]["synthesis"]
    first_layer = next(iter(synthesis.state["_modules"].values()))
    first_layer.state["hidden"] = _Call(os.system, f"touch {shlex.quote(str(marker))}")
    data = dumps(checkpoint)
    with pytest.raises(CheckpointError, match=r"refusing global (posix|nt|os)\.system"):
        load_generator(io.BytesIO(data))
    assert not marker.exists()
    keep_records = {"torch_utils.persistence": {"_reconstruct_persistent_obj": dict}}
    with official_module_names(keep_records):
        pickle.loads(data)  # the stock unpickler (networks kept as their meta dicts)
    assert marker.exists(), "the payload must be live, or this test proves nothing"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_in_a_pickle_are_named(bad):
    G = small_stylegan3()
    checkpoint = official_checkpoint(G, G.init_kwargs)
    layer_name = G.synthesis.layer_names[1]
    layer = checkpoint["G_ema"].state["_modules"]["synthesis"].state["_modules"][layer_name]
    layer.state["_buffers"]["magnitude_ema"] = torch.tensor(bad)
    with pytest.raises(CheckpointError, match=f"non-finite .* synthesis.{layer_name}.magnitude"):
        load_generator(io.BytesIO(dumps(checkpoint)))


def test_non_finite_weights_in_safetensors_are_named(tmp_path):
    G = small_human()
    tensors = safetensors.torch.load(encode_generator(G))
    path = tmp_path / "model.safetensors"
    save_generator(G, path)
    metadata = safetensors.safe_open(str(path), "pt").metadata()
    tensors["synthesis.b8.conv1.weight"][0, 0, 1, 1] = float("nan")
    tensors["mapping.w_avg"][3] = float("inf")
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    with pytest.raises(CheckpointError, match="non-finite") as info:
        load_generator(path)
    assert "synthesis.b8.conv1.weight" in str(info.value) and "mapping.w_avg" in str(info.value)
