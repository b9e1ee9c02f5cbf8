"""Generators to benchmark: architecture presets with random weights, or a model file.

A preset builds a generator of an official shape with random weights (seeded, so every
configuration of one run and every rerun sees the same network). Timings depend on the shape,
not on the weights, so a preset is a faithful stand-in for the released checkpoint.

Families: StyleGAN2 config-f; StyleGAN3 as NVlabs stylegan3 train.py builds --cfg=stylegan3-t
(channel_base 32768, channel_max 512, 2 mapping layers) and --cfg=stylegan3-r (the same with
channel_base and channel_max doubled, 1x1 convolutions, radial filters), num_fp16_res 4 and
conv_clamp 256 for both; StyleGAN-Human 1024x512 (a StyleGAN2 on H x H/2 rectangles, channel_base
32768, padded to squares as DragGAN builds it).
"""

from dataclasses import dataclass
from pathlib import Path

from draggan_fast.assets_registry import default_model_path

WEIGHTS_SEED = 0


@dataclass(frozen=True)
class ArchPreset:
    """A generator shape: the constructor kwargs of the official config it stands for."""

    name: str
    description: str
    img_resolution: int
    channel_base: int
    channel_max: int = 512
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    num_fp16_res: int = 4
    conv_clamp: float | None = 256
    family: str = "stylegan2"  # a name of stylegan.families.FAMILIES
    options: tuple = ()  # (name, value) pairs: the family's further constructor options

    def generator_kwargs(self) -> dict:
        return {
            "z_dim": self.z_dim, "c_dim": 0, "w_dim": self.w_dim,
            "img_resolution": self.img_resolution, "img_channels": 3,
            "mapping_kwargs": {"num_layers": self.mapping_layers},
            "channel_base": self.channel_base, "channel_max": self.channel_max,
            "num_fp16_res": self.num_fp16_res, "conv_clamp": self.conv_clamp,
            **dict(self.options),
        }  # fmt: skip


def _stylegan3(config, resolution, what):
    """NVlabs stylegan3 train.py's --cfg=stylegan3-t or -r generator at `resolution`."""
    radial = config == "r"
    return ArchPreset(
        f"sg3{config}{resolution}",
        f"StyleGAN3-{config.upper()} {resolution} px (as stylegan3-{config}-{what})",
        resolution,
        65536 if radial else 32768,
        channel_max=1024 if radial else 512,
        mapping_layers=2,
        family="stylegan3",
        options=(("conv_kernel", 1), ("use_radial_filters", True)) if radial else (),
    )


PRESETS = {
    preset.name: preset
    for preset in [
        ArchPreset("ffhq512", "StyleGAN2 config-f 512 px (as stylegan2-ffhq-512x512)", 512, 32768),
        ArchPreset(
            "afhq512", "StyleGAN2 config-f 512 px (as stylegan2-afhqcat-512x512)", 512, 32768
        ),
        ArchPreset(
            "car512",
            "StyleGAN2 config-f 512 px, square: the official car model's pictures are 512x384; "
            "this preset times the square 512 px config-f shape",
            512,
            32768,
        ),
        ArchPreset("256", "StyleGAN2 config-f 256 px (channel_base 16384)", 256, 16384),
        ArchPreset("1024", "StyleGAN2 config-f 1024 px (as stylegan2-ffhq-1024x1024)", 1024, 32768),
        _stylegan3("t", 512, "afhqv2-512x512"),
        _stylegan3("r", 512, "afhqv2-512x512"),
        _stylegan3("t", 1024, "ffhq-1024x1024"),
        _stylegan3("r", 1024, "ffhq-1024x1024"),
        ArchPreset(
            "human1024",
            "StyleGAN-Human 1024x512 (as stylegan_human_v2_1024), padded to 1024 px squares",
            1024,
            32768,
            family="stylegan_human",
            options=(("square", False), ("padding", True)),
        ),
        ArchPreset(
            "tiny",
            "64 px, channel_base 2048, 64 channels, 2 mapping layers: for smoke tests only",
            64,
            2048,
            channel_max=64,
            mapping_layers=2,
            num_fp16_res=0,
            conv_clamp=None,
        ),
    ]
}

DEFAULT_ARCH = "default"
ARCH_CHOICES = [*PRESETS, DEFAULT_ARCH]


def build_preset_generator(name: str):
    """The preset's generator with seeded random weights, in eval mode, no parameter grads."""
    import torch  # here, not at import: the CLI lists presets without loading torch

    from draggan_fast.stylegan.families import generator_class

    if name not in PRESETS:
        raise ValueError(f"unknown --arch {name!r}: choose one of {', '.join(ARCH_CHOICES)}")
    preset = PRESETS[name]
    with torch.random.fork_rng(devices=[]):  # the CPU generator only; callers' RNG untouched
        torch.manual_seed(WEIGHTS_SEED)
        generator = generator_class(preset.family)(**preset.generator_kwargs())
    return generator.eval().requires_grad_(False)


def load_model_generator(path: Path):
    """A generator from a checkpoint file; the loader never runs code from the file."""
    import draggan_fast

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--model {path}: no such file")
    return draggan_fast.load_generator(path).eval().requires_grad_(False)


def describe_source(arch: str | None, model: str | None) -> dict:
    """What a run benchmarks, for the report: the preset (with its shape) or the file."""
    if model is not None:
        return {"kind": "file", "path": str(model)}
    if arch == DEFAULT_ARCH:  # FileNotFoundError naming the file when the install lacks it
        return {"kind": "bundled", "path": str(default_model_path())}
    preset = PRESETS[arch]
    return {
        "kind": "preset", "arch": arch, "family": preset.family,
        "description": preset.description,
        "weights": f"random (torch seed {WEIGHTS_SEED})", "kwargs": preset.generator_kwargs(),
    }  # fmt: skip


def build_generator(source: dict):
    """The generator `describe_source` described."""
    if source["kind"] == "preset":
        return build_preset_generator(source["arch"])
    return load_model_generator(Path(source["path"]))
