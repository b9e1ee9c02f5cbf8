"""VGG16 perceptual weights: read from a local file as data only, never as code."""

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from draggan_fast import invert
from draggan_fast.inversion.perceptual import FeatureLoss, normalised_distance
from draggan_fast.inversion.vgg import VGG16Features, load_vgg16_features


@pytest.fixture(scope="module")
def random_vgg_state():
    """A randomly initialised VGG16 trunk's state dict under torchvision's names, plus a
    classifier key (which loading ignores)."""
    torch.manual_seed(0)
    state = {k: v for k, v in VGG16Features().state_dict().items() if k.startswith("features.")}
    return {**state, "classifier.0.weight": torch.zeros([4, 4])}


@pytest.mark.parametrize("fmt", ["safetensors", "torch"])
def test_weights_load_from_safetensors_or_a_plain_state_dict(random_vgg_state, tmp_path, fmt):
    path = tmp_path / f"vgg16.{'safetensors' if fmt == 'safetensors' else 'pt'}"
    if fmt == "safetensors":
        save_file(random_vgg_state, path)
    else:
        torch.save(random_vgg_state, path)
    model = load_vgg16_features(path)
    for key, value in model.state_dict().items():
        if key.startswith("features."):
            torch.testing.assert_close(value, random_vgg_state[key], rtol=0, atol=0)
    features = model(torch.zeros([1, 3, 32, 32]))
    assert [list(f.shape[1:]) for f in features] == [
        [64, 32, 32], [128, 16, 16], [256, 8, 8], [512, 4, 4], [512, 2, 2],
    ]  # fmt: skip


class RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but code: a weights-only load must refuse it


def test_a_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"features.0.weight": RunsCode()}, protocol=2))
    with pytest.raises(ValueError, match=r"evil.pt: refused: not a plain state dict") as error:
        load_vgg16_features(path)
    assert "\n" not in str(error.value)


def test_wrong_or_missing_weights(random_vgg_state, tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_vgg16_features(tmp_path / "missing.pt")
    torch.save({"features.0.weight": torch.zeros([64, 3, 3, 3])}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match=r"not a VGG16 state dict \(missing features.0.bias"):
        load_vgg16_features(tmp_path / "partial.pt")
    bad = dict(random_vgg_state, **{"features.0.weight": torch.zeros([64, 3, 5, 5])})
    save_file(bad, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match=r"features.0.weight must be \[64, 3, 3, 3\]"):
        load_vgg16_features(tmp_path / "bad.safetensors")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a state dict"):
        load_vgg16_features(tmp_path / "list.pt")


def test_feature_loss_is_zero_at_the_target_and_positive_elsewhere(random_vgg_state, tmp_path):
    save_file(random_vgg_state, tmp_path / "vgg.safetensors")
    loss = FeatureLoss(load_vgg16_features(tmp_path / "vgg.safetensors"), "vgg16")
    target = torch.rand([1, 3, 32, 32]) * 2 - 1
    loss.set_target(target)
    assert loss(target).item() == pytest.approx(0, abs=1e-6)
    assert loss(-target).item() > 1e-3
    a, b = torch.randn([2, 5, 3, 3]), torch.randn([2, 5, 3, 3])
    unit_a = a / a.norm(dim=1, keepdim=True)
    unit_b = b / b.norm(dim=1, keepdim=True)
    expected = (unit_a - unit_b).square().sum(dim=1).mean()
    torch.testing.assert_close(normalised_distance(a, b), expected)
    torch.testing.assert_close(normalised_distance(a, 3 * a), torch.tensor(0.0), atol=1e-6,
                               rtol=0)  # fmt: skip


def test_invert_uses_vgg_when_given(random_vgg_state, tmp_path, tiny_G, made_photo):
    save_file(random_vgg_state, tmp_path / "vgg.safetensors")
    result = invert(tiny_G, made_photo, steps=2, tuning_steps=1,
                    perceptual_weights=tmp_path / "vgg.safetensors")  # fmt: skip
    assert result.metrics["perceptual"] == "vgg16"
