"""The StyleGAN3 and StyleGAN-Human bench presets have the official shapes (NVlabs stylegan3
train.py's --cfg=stylegan3-t / -r, StyleGAN-Human 1024x512), and `bench` runs on those families
(a few steps on the official fixture pickles: the presets themselves are too slow on a CPU)."""

import pytest

from draggan_fast import cli
from draggan_fast.bench import presets

SG3 = {
    "sg3t512": (512, 32768, 512, False),
    "sg3r512": (512, 65536, 1024, True),
    "sg3t1024": (1024, 32768, 512, False),
    "sg3r1024": (1024, 65536, 1024, True),
}


@pytest.mark.parametrize("name", list(SG3))
def test_stylegan3_presets_have_the_official_configs(name):
    resolution, channel_base, channel_max, radial = SG3[name]
    preset = presets.PRESETS[name]
    kwargs = preset.generator_kwargs()
    assert preset.family == "stylegan3" and kwargs["img_resolution"] == resolution
    assert (kwargs["channel_base"], kwargs["channel_max"]) == (channel_base, channel_max)
    assert kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert (kwargs["num_fp16_res"], kwargs["conv_clamp"]) == (4, 256)
    assert kwargs.get("conv_kernel", 3) == (1 if radial else 3)
    assert kwargs.get("use_radial_filters", False) == radial


def test_the_human_preset_is_1024_by_512_padded():
    preset = presets.PRESETS["human1024"]
    kwargs = preset.generator_kwargs()
    assert preset.family == "stylegan_human" and kwargs["img_resolution"] == 1024
    assert (kwargs["square"], kwargs["padding"]) == (False, True)
    assert (kwargs["channel_base"], kwargs["channel_max"]) == (32768, 512)


@pytest.mark.parametrize("name", [*SG3, "human1024"])
def test_every_family_preset_builds(name):
    """Built on the CPU (cheap: no forward pass); shapes as the official networks have them."""
    G = presets.build_preset_generator(name)
    assert G.family == presets.PRESETS[name].family
    resolution = presets.PRESETS[name].img_resolution
    if G.family == "stylegan3":
        assert G.num_ws == 16 and G.image_shape == (resolution, resolution)
        assert G.feature_shape(0) == (SG3[name][2], 36, 36)  # 16 px + 2 x 10 px margins
        assert G.feature_shape(len(G.synthesis.blocks) - 1) == (3, resolution, resolution)
    else:
        assert G.num_ws == 18 and G.image_shape == (1024, 512)
        assert G.feature_shape(5) == (256, 128, 128)  # padded to squares


@pytest.mark.parametrize("fixture", ["stylegan3-t-64", "stylegan_human-64"])
def test_bench_reports_fast_vs_reference_on_other_families(fixtures_dir, fixture, capsys):
    argv = [
        "bench", "--model", str(fixtures_dir / f"{fixture}.pkl"), "--backend", "fast,reference",
        "--device", "cpu", "--steps", "2", "--warmup", "0", "--handles", "1",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "median ms" in printed and "fast vs reference: speed-up x" in printed
