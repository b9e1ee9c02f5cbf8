"""The generator families a checkpoint may hold, recognised from its data, and the constructor
kwargs of each normalised for our classes.

- "stylegan2": StyleGAN2 config-f (stylegan2-ada-pytorch, stylegan3 repo, DragGAN) -> networks.py;
- "stylegan_human": StyleGAN-Human (a StyleGAN2 on H x H/2 rectangles) -> networks.py with
  `square=False, padding=True`, DragGAN's convention: the engine sees padded squares;
- "stylegan3": StyleGAN3 configs T and R -> networks_stylegan3.py.

`detect_family` reads only data: the weights' names and shapes and the stored kwargs (a
StyleGAN3 synthesis has an `input` layer; a StyleGAN-Human const input is half as wide as high,
whether or not `square`/`padding` were stored). The same path serves official pickles and our
safetensors files, whose config is the generator's `init_kwargs`.
"""

from draggan_fast.stylegan import networks, networks_stylegan3
from draggan_fast.stylegan.errors import CheckpointError

FAMILIES = ("stylegan2", "stylegan_human", "stylegan3")
_CLASSES = {
    "stylegan2": networks.Generator,
    "stylegan_human": networks.Generator,
    "stylegan3": networks_stylegan3.Generator,
}

_REQUIRED = ("z_dim", "c_dim", "w_dim", "img_resolution")
_TOP_LEVEL = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
# The positional order of each family's official Generator constructor.
_POSITIONAL = {
    "stylegan2": (
        "z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
        "synthesis_kwargs",
    ),
    "stylegan_human": (
        "z_dim", "c_dim", "w_dim", "img_resolution", "square", "img_channels", "mapping_kwargs",
        "synthesis_kwargs", "padding",
    ),
    "stylegan3": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"),
}  # fmt: skip
_SG2_SYNTHESIS = {
    "channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter",
    "conv_clamp", "fp16_channels_last", "fused_modconv_default", "kernel_size", "use_noise",
    "activation",
}  # fmt: skip
_SYNTHESIS_OPTIONS = {
    "stylegan2": _SG2_SYNTHESIS,
    "stylegan_human": _SG2_SYNTHESIS | {"square", "padding"},
    "stylegan3": {
        "channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff",
        "first_stopband", "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res",
        "conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp",
        "magnitude_ema_beta",
    },
}  # fmt: skip
_MAPPING_OPTIONS = {
    "stylegan2": {
        "num_layers", "embed_features", "layer_features", "activation", "lr_multiplier",
        "w_avg_beta",
    },
    "stylegan3": {"num_layers", "lr_multiplier", "w_avg_beta"},
}  # fmt: skip
_MAPPING_OPTIONS["stylegan_human"] = _MAPPING_OPTIONS["stylegan2"]
# Official options with no effect on the generator's weights or numerics, per family:
# `class_name` (a factory key); on StyleGAN2 `magnitude_ema_beta` (stylegan3 train.py sets it for
# every G); `square=True` (a StyleGAN-Human network trained on squares is a plain StyleGAN2).
_IGNORED = {
    "stylegan2": {"class_name", "magnitude_ema_beta", "square", "padding"},
    "stylegan_human": {"class_name", "magnitude_ema_beta"},
    "stylegan3": {"class_name"},
}


def detect_family(init_kwargs: dict, state: dict) -> str:
    """ "stylegan3", "stylegan_human" or "stylegan2", from a checkpoint's kwargs and weights."""
    if any(name.startswith("synthesis.input.") for name in state):
        return "stylegan3"
    synthesis_kwargs = init_kwargs.get("synthesis_kwargs")
    nested = synthesis_kwargs if isinstance(synthesis_kwargs, dict) else {}
    square = init_kwargs.get("square", nested.get("square"))
    const = state.get("synthesis.b4.const")
    rectangular = getattr(const, "ndim", 0) == 3 and const.shape[1] == 2 * const.shape[2]
    if square is False or (square is None and rectangular):
        return "stylegan_human"
    return "stylegan2"


def _flatten(family, init_kwargs, init_args, source):
    names = _POSITIONAL[family]
    if len(init_args) > len(names):
        raise CheckpointError(f"{source}: generator has {len(init_args)} positional init args")
    kwargs = dict(zip(names, init_args))
    kwargs.update(init_kwargs)
    synthesis_kwargs = kwargs.pop("synthesis_kwargs", None) or {}
    if not isinstance(synthesis_kwargs, dict):
        raise CheckpointError(f"{source}: synthesis_kwargs must be a dict")
    kwargs.update(synthesis_kwargs)
    mapping_kwargs = kwargs.get("mapping_kwargs") or {}
    if not isinstance(mapping_kwargs, dict):
        raise CheckpointError(f"{source}: mapping_kwargs must be a dict")
    kwargs["mapping_kwargs"] = dict(mapping_kwargs)
    return kwargs


def normalize_kwargs(family: str, init_kwargs: dict, init_args=(), source="checkpoint") -> dict:
    """Official constructor kwargs of a `family` generator -> our Generator's kwargs.

    Accepts nested (`synthesis_kwargs={...}`) and flat kwargs and positional `init_args`. Raises
    CheckpointError for an option this engine does not know or an unsupported architecture.
    """
    kwargs = _flatten(family, init_kwargs, init_args, source)
    for name in _IGNORED[family]:
        kwargs.pop(name, None)
    if family == "stylegan3" and kwargs.pop("resize", None) is not None:
        raise CheckpointError(f"{source}: unsupported generator option: resize (DragGAN's)")
    missing = [name for name in _REQUIRED if name not in kwargs]
    if missing:
        raise CheckpointError(f"{source}: generator config lacks {', '.join(missing)}")
    unknown = sorted(set(kwargs) - _TOP_LEVEL - _SYNTHESIS_OPTIONS[family])
    unknown += sorted(
        f"mapping_kwargs.{k}" for k in set(kwargs["mapping_kwargs"]) - _MAPPING_OPTIONS[family]
    )
    if unknown:
        raise CheckpointError(f"{source}: unsupported generator options: {', '.join(unknown)}")
    if family == "stylegan_human":
        kwargs.update(square=False, padding=True)  # DragGAN's convention, whatever was stored
    architecture = kwargs.get("architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(
            f"{source}: unsupported architecture {architecture!r}: this engine implements the "
            "StyleGAN2 'skip' generator (config-f), not 'orig' or 'resnet'"
        )
    return kwargs


def generator_class(family: str):
    """The class that builds a `family` generator."""
    return _CLASSES[family]
