"""Our safetensors format: round trip, file objects, the convert CLI, and every error case."""

import io
import json
import struct

import pytest
import safetensors.torch
import torch

import draggan_fast
from draggan_fast.cli import main as cli_main
from draggan_fast.stylegan import Generator
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator, save_generator
from draggan_fast.stylegan.native_format import FORMAT_NAME, encode_generator
from tests.conftest import requires_cuda
from tests.stylegan.pickle_official import SMALL_KWARGS, small_generator


@pytest.fixture(scope="module")
def small_G():
    return small_generator()


def _images(G):
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(1))
    return G(z, truncation_psi=0.7, noise_mode="const")


def _assert_same_generator(G, loaded):
    assert loaded.init_kwargs == G.init_kwargs
    assert loaded.state_dict().keys() == G.state_dict().keys()
    for name, value in G.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert torch.equal(_images(loaded), _images(G))


def _write_safetensors(path, tensors, metadata):
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))


def test_round_trip_path_is_identical(small_G, tmp_path):
    path = tmp_path / "model.safetensors"
    save_generator(small_G, path)
    loaded = draggan_fast.load_generator(str(path), device="cpu")
    _assert_same_generator(small_G, loaded)
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert all(t.device.type == "cpu" for t in loaded.state_dict().values())


def test_round_trip_file_object(small_G):
    buffer = io.BytesIO()
    save_generator(small_G, buffer)
    buffer.seek(0)
    _assert_same_generator(small_G, load_generator(buffer))


class _Unseekable:
    """A stream that can only be read (a pipe, a socket, an HTTP response)."""

    def __init__(self, data):
        self._buffer = io.BytesIO(data)

    def read(self, size=-1):
        return self._buffer.read(size)


def test_unseekable_stream_and_open_file(small_G, tmp_path):
    _assert_same_generator(small_G, load_generator(_Unseekable(encode_generator(small_G))))
    path = tmp_path / "model.safetensors"
    save_generator(small_G, path)
    with open(path, "rb") as file:
        _assert_same_generator(small_G, load_generator(file))


def test_config_is_readable_json_in_the_header(small_G):
    data = encode_generator(small_G)
    (header_size,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + header_size])["__metadata__"]
    assert metadata["format"] == FORMAT_NAME
    assert json.loads(metadata["config"]) == json.loads(json.dumps(small_G.init_kwargs))


def test_half_precision_weights_load_as_float32(small_G):
    data = encode_generator(Generator(**SMALL_KWARGS).half())
    loaded = load_generator(io.BytesIO(data))
    assert all(t.dtype == torch.float32 for t in loaded.state_dict().values())


def test_convert_cli_safetensors_to_safetensors(small_G, tmp_path, capsys):
    source, dest = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_generator(small_G, source)
    assert cli_main(["convert", str(source), str(dest)]) == 0
    assert "16x16 generator" in capsys.readouterr().out
    _assert_same_generator(small_G, load_generator(dest))
    assert cli_main(["convert", str(source), str(dest)]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli_main(["convert", str(source), str(dest), "--force"]) == 0


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["missing.pkl", "out.safetensors"], "no such file"),
        (["in.safetensors", "out.pt"], "must end in .safetensors"),
        (["in.safetensors", "in.safetensors", "--force"], "same file"),
    ],
)
def test_convert_cli_bad_input_is_one_line_exit_2(small_G, tmp_path, capsys, argv_tail, message):
    save_generator(small_G, tmp_path / "in.safetensors")
    argv = ["convert"] + [str(tmp_path / a) if not a.startswith("-") else a for a in argv_tail]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_generator(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"PK\x03\x04rest-of-a-zip", "zip archive"),
    ],
)
def test_not_a_checkpoint(tmp_path, content, message):
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_generator(path)


def test_text_mode_file_object_is_refused(small_G, tmp_path):
    path = tmp_path / "model.safetensors"
    save_generator(small_G, path)
    with open(path, encoding="latin-1") as text_file:
        with pytest.raises(CheckpointError, match="binary mode"):
            load_generator(text_file)
    with pytest.raises(TypeError, match="path or a binary file object"):
        load_generator(12345)


@pytest.mark.parametrize("keep_bytes", [20, 200, -10])
def test_truncated_safetensors(small_G, tmp_path, keep_bytes):
    path = tmp_path / "model.safetensors"
    path.write_bytes(encode_generator(small_G)[:keep_bytes])
    with pytest.raises(CheckpointError, match="truncated"):
        load_generator(path)


def test_safetensors_without_our_config(small_G, tmp_path):
    path = tmp_path / "weights.safetensors"
    _write_safetensors(path, dict(small_G.state_dict()), {"format": "pt"})
    with pytest.raises(CheckpointError, match="without a draggan-fast generator config"):
        load_generator(path)
    metadata = {"format": FORMAT_NAME, "format_version": "99", "config": "{}"}
    _write_safetensors(path, dict(small_G.state_dict()), metadata)
    with pytest.raises(CheckpointError, match="format_version '99'"):
        load_generator(path)


def _native(tmp_path, state, config):
    path = tmp_path / "model.safetensors"
    metadata = {"format": FORMAT_NAME, "format_version": "1", "config": json.dumps(config)}
    _write_safetensors(path, state, metadata)
    return path


def test_state_that_does_not_fit_names_every_problem(small_G, tmp_path):
    state = dict(small_G.state_dict())
    del state["mapping.fc1.bias"]
    state["synthesis.b8.extra.weight"] = torch.zeros(3)
    state["synthesis.b16.torgb.weight"] = torch.zeros(3, 16, 1, 2)
    path = _native(tmp_path, state, small_G.init_kwargs)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert "missing mapping.fc1.bias" in message
    assert "unexpected synthesis.b8.extra.weight" in message
    assert "synthesis.b16.torgb.weight [3, 16, 1, 2] (config expects [3, 16, 1, 1])" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": "resnet"}, "unsupported architecture 'resnet'"),
        ({"architecture": "orig"}, "unsupported architecture 'orig'"),
        ({"frobnicate": 1}, "unsupported generator options: frobnicate"),
        ({"mapping_kwargs": {"depth": 3}}, "mapping_kwargs.depth"),
        ({"mapping_kwargs": 3}, "mapping_kwargs must be a dict"),
        ({"z_dim": "sixteen"}, "does not build"),
        ({"img_resolution": 24}, "does not build"),
    ],
)
def test_bad_config(small_G, tmp_path, change, message):
    config = {**small_G.init_kwargs, **change}
    with pytest.raises(CheckpointError, match=message):
        load_generator(_native(tmp_path, dict(small_G.state_dict()), config))


def test_config_without_z_dim(small_G, tmp_path):
    config = {k: v for k, v in small_G.init_kwargs.items() if k != "z_dim"}
    with pytest.raises(CheckpointError, match="lacks z_dim"):
        load_generator(_native(tmp_path, dict(small_G.state_dict()), config))


@requires_cuda
def test_load_onto_cuda_and_save_from_cuda(small_G, tmp_path):
    path = tmp_path / "model.safetensors"
    save_generator(small_G, path)
    loaded = load_generator(path, device="cuda")
    assert all(t.is_cuda for t in loaded.state_dict().values())
    save_generator(loaded, tmp_path / "again.safetensors")  # tensors come back to the CPU
    _assert_same_generator(small_G, load_generator(tmp_path / "again.safetensors"))
    z = torch.randn([2, small_G.z_dim], generator=torch.Generator().manual_seed(1))
    ws = loaded.mapping(z.cuda(), truncation_psi=0.7)
    image = loaded.synthesis(ws, noise_mode="const", force_fp32=True).cpu()
    assert (image - _images(small_G)).abs().max() <= 1e-3  # TF32 convolutions on the GPU
