"""Architecture presets have the official shapes; generators are seeded and loadable."""

import pytest
import torch

from draggan_fast.bench import presets


def _block_channels(kwargs):
    """Output channels of each synthesis block, as the official config computes them."""
    resolutions = [2**i for i in range(2, kwargs["img_resolution"].bit_length())]
    return [min(kwargs["channel_base"] // r, kwargs["channel_max"]) for r in resolutions]


@pytest.mark.parametrize(
    ("name", "resolution", "channels"),
    [
        ("ffhq512", 512, [512, 512, 512, 512, 512, 256, 128, 64]),
        ("afhq512", 512, [512, 512, 512, 512, 512, 256, 128, 64]),
        ("car512", 512, [512, 512, 512, 512, 512, 256, 128, 64]),
        ("256", 256, [512, 512, 512, 512, 256, 128, 64]),
        ("1024", 1024, [512, 512, 512, 512, 512, 256, 128, 64, 32]),
    ],
)
def test_presets_have_config_f_shapes(name, resolution, channels):
    kwargs = presets.PRESETS[name].generator_kwargs()
    assert kwargs["img_resolution"] == resolution
    assert _block_channels(kwargs) == channels
    assert (kwargs["z_dim"], kwargs["w_dim"], kwargs["mapping_kwargs"]["num_layers"]) == (
        512,
        512,
        8,
    )
    assert (kwargs["num_fp16_res"], kwargs["conv_clamp"]) == (4, 256)


def test_tiny_preset_builds_the_same_weights_every_time():
    torch.manual_seed(123)
    before = torch.rand(1)
    first = presets.build_preset_generator("tiny")
    second = presets.build_preset_generator("tiny")
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), before)  # the caller's RNG stream is untouched
    assert first.img_resolution == 64 and not any(p.requires_grad for p in first.parameters())
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_describe_and_build_from_a_model_file(fixtures_dir):
    source = presets.describe_source(None, str(fixtures_dir / "sg2_64_tf.pkl"))
    assert source == {"kind": "file", "path": str(fixtures_dir / "sg2_64_tf.pkl")}
    generator = presets.build_generator(source)
    assert generator.img_resolution == 64 and not generator.training


def test_default_arch_is_the_bundled_model():
    from draggan_fast.assets_registry import default_model_path

    source = presets.describe_source(presets.DEFAULT_ARCH, None)
    assert source == {"kind": "bundled", "path": str(default_model_path())}
    generator = presets.build_generator(source)
    assert generator.img_resolution >= 64 and not generator.training


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown --arch 'huge'"):
        presets.build_preset_generator("huge")
    with pytest.raises(FileNotFoundError, match="no such file"):
        presets.load_model_generator(tmp_path / "missing.pkl")
