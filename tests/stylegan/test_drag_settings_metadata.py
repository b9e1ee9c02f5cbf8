"""Recommended drag settings in the model file's metadata (stylegan/native_format.py): written,
read back onto the generator, checked as untrusted input, rewritten without touching weights."""

import io
import json

import pytest
import safetensors.torch
import torch

import draggan_fast
from draggan_fast.install_default_model import DRAG_SETTINGS
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator
from draggan_fast.stylegan.native_format import encode_generator, with_drag_settings
from tests.stylegan.pickle_official import small_generator

HEADER_BYTES = 8


def _split(data):
    """(header JSON, tensor bytes) of a safetensors file."""
    size = int.from_bytes(data[:HEADER_BYTES], "little")
    return json.loads(data[HEADER_BYTES : HEADER_BYTES + size]), data[HEADER_BYTES + size :]


@pytest.fixture(scope="module")
def plain_model():
    """The bytes of a generator file that recommends no drag settings."""
    return encode_generator(small_generator())


def test_a_file_without_settings_loads_with_none(plain_model):
    assert load_generator(io.BytesIO(plain_model)).drag_settings is None


def test_settings_round_trip_through_save_and_load(tmp_path):
    G = small_generator()
    G.drag_settings = {"lr": 0.004, "lambda_mask": 2}
    path = tmp_path / "model.safetensors"
    path.write_bytes(encode_generator(G))
    assert load_generator(path).drag_settings == {"lr": 0.004, "lambda_mask": 2.0}
    header, _ = _split(path.read_bytes())
    assert json.loads(header["__metadata__"]["drag_settings"]) == {"lambda_mask": 2, "lr": 0.004}


def test_rewriting_the_settings_keeps_the_weights_byte_identical(plain_model, tmp_path):
    rewritten = with_drag_settings(plain_model, {"lr": 0.01, "r2": 6}, "model")
    old_header, old_tensors = _split(plain_model)
    new_header, new_tensors = _split(rewritten)
    assert new_tensors == old_tensors
    assert {k: v for k, v in new_header.items() if k != "__metadata__"} == {
        k: v for k, v in old_header.items() if k != "__metadata__"
    }
    path = tmp_path / "model.safetensors"
    path.write_bytes(rewritten)
    assert load_generator(path).drag_settings == {"lr": 0.01, "r2": 6.0}
    again = with_drag_settings(rewritten, {"lr": 0.02}, "model")  # replaces, not merges
    assert _split(again)[1] == old_tensors
    assert json.loads(_split(again)[0]["__metadata__"]["drag_settings"]) == {"lr": 0.02}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('{"lr": -1}', "drag_settings lr must be > 0"),
        ('{"lr": 0}', "drag_settings lr must be > 0"),
        ('{"lambda_mask": -0.5}', "drag_settings lambda_mask must be >= 0"),
        ('{"r1": NaN}', "drag_settings r1 must be a finite number"),
        ('{"r2": "12"}', "drag_settings r2 must be a finite number"),
        ('{"lr": true}', "drag_settings lr must be a finite number"),
        ('{"steps": 3}', "unknown drag_settings 'steps'"),
        ("[1, 2]", "drag_settings must be a JSON object"),
        ("{lr: 1", "drag_settings is not valid JSON"),
    ],
)
def test_bad_settings_in_a_file_are_a_load_error(plain_model, tmp_path, settings, message):
    header, _ = _split(plain_model)
    tensors = safetensors.torch.load(plain_model)
    metadata = {**header["__metadata__"], "drag_settings": settings}
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    with pytest.raises(CheckpointError, match=message):
        load_generator(path)


def test_bad_settings_are_refused_when_written(plain_model):
    with pytest.raises(CheckpointError, match="drag_settings lr must be > 0"):
        with_drag_settings(plain_model, {"lr": -1}, "model")
    with pytest.raises(CheckpointError, match="without a draggan-fast generator config"):
        other = safetensors.torch.save({"x": torch.zeros(2)}, metadata={"format": "other"})
        with_drag_settings(other, {"lr": 1}, "model")


def test_the_bundled_model_recommends_the_measured_settings():
    G = load_generator(draggan_fast.default_model_path())
    assert G.drag_settings == DRAG_SETTINGS
    assert G.drag_settings == {"lr": 5e-3, "lambda_mask": 1.0, "r1": 3.0, "r2": 12.0}
