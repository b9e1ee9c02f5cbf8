"""`load_generator`: official pickles, legacy TensorFlow pickles and our safetensors format.

No code from a checkpoint ever runs: pickles go through `safe_unpickle` (a restricted unpickler
that admits tensor, array and container reconstruction only), safetensors holds bytes and JSON.
Every format ends as (official constructor kwargs, official-named state dict), which
`build_generator` checks against each other before any weight is placed.
"""

import contextlib
import io
import os

import torch

from draggan_fast.stylegan import legacy_tf, native_format
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.native_format import save_generator
from draggan_fast.stylegan.networks import Generator
from draggan_fast.stylegan.official_pickle import read_official_pickle
from draggan_fast.stylegan.safe_unpickle import safe_load

__all__ = ["build_generator", "load_generator", "official_kwargs_to_ours", "save_generator"]

# The positional order of the official Generator constructors (ada and stylegan3 repos).
_POSITIONAL_NAMES = (
    "z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs",
    "synthesis_kwargs",
)  # fmt: skip
_REQUIRED = ("z_dim", "c_dim", "w_dim", "img_resolution")
_TOP_LEVEL = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
_MAPPING_OPTIONS = {
    "num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta",
}  # fmt: skip
_SYNTHESIS_OPTIONS = {
    "channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter",
    "conv_clamp", "fp16_channels_last", "fused_modconv_default", "kernel_size", "use_noise",
    "activation",
}  # fmt: skip
# Official options with no effect on a StyleGAN2 generator's weights or numerics:
# `magnitude_ema_beta` (stylegan3 train.py sets it for every G), `class_name` (a factory key).
_IGNORED_OPTIONS = {"magnitude_ema_beta", "class_name"}
_MAX_NAMES_IN_MESSAGE = 8


def official_kwargs_to_ours(init_kwargs: dict, init_args=(), source="checkpoint") -> dict:
    """Official constructor kwargs -> `Generator` kwargs.

    Accepts the nested style (`synthesis_kwargs={...}`, stylegan2-ada-pytorch), the flat style
    (stylegan3 repo train.py) and positional `init_args`. Raises CheckpointError for an
    unsupported architecture or an option this engine does not know.
    """
    if len(init_args) > len(_POSITIONAL_NAMES):
        raise CheckpointError(f"{source}: generator has {len(init_args)} positional init args")
    kwargs = dict(zip(_POSITIONAL_NAMES, init_args))
    kwargs.update(init_kwargs)
    synthesis_kwargs = kwargs.pop("synthesis_kwargs", None) or {}
    if not isinstance(synthesis_kwargs, dict):
        raise CheckpointError(f"{source}: synthesis_kwargs must be a dict")
    kwargs.update(synthesis_kwargs)
    for name in _IGNORED_OPTIONS:
        kwargs.pop(name, None)
    mapping_kwargs = kwargs.get("mapping_kwargs") or {}
    if not isinstance(mapping_kwargs, dict):
        raise CheckpointError(f"{source}: mapping_kwargs must be a dict")
    kwargs["mapping_kwargs"] = dict(mapping_kwargs)
    missing = [name for name in _REQUIRED if name not in kwargs]
    if missing:
        raise CheckpointError(f"{source}: generator config lacks {', '.join(missing)}")
    unknown = sorted(set(kwargs) - _TOP_LEVEL - _SYNTHESIS_OPTIONS)
    unknown += sorted(
        f"mapping_kwargs.{k}" for k in set(kwargs["mapping_kwargs"]) - _MAPPING_OPTIONS
    )
    if unknown:
        raise CheckpointError(f"{source}: unsupported generator options: {', '.join(unknown)}")
    architecture = kwargs.get("architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(
            f"{source}: unsupported architecture {architecture!r}: this engine implements the "
            "StyleGAN2 'skip' generator (config-f), not 'orig' or 'resnet'"
        )
    return kwargs


def _names(names) -> str:
    names = list(names)
    shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGE])
    more = len(names) - _MAX_NAMES_IN_MESSAGE
    return f"{shown} (and {more} more)" if more > 0 else shown


def construct_on_meta(kwargs: dict, source: str) -> Generator:
    """An empty (meta-device) Generator for already normalised kwargs: no memory, no init cost."""
    try:
        with torch.device("meta"):
            return Generator(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: generator config does not build ({exc})") from None


def fit_state(G: Generator, state: dict, source: str) -> dict:
    """`state` checked against G's expected names, shapes and dtypes; floats cast to G's dtype.

    Raises CheckpointError naming every missing, unexpected and mis-shaped entry.
    """
    expected = G.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    misfit, fitted = [], {}
    for name, want in expected.items():
        value = state.get(name)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            misfit.append(f"{name} is a {type(value).__name__}, not a tensor")
        elif list(value.shape) != list(want.shape):
            misfit.append(f"{name} {list(value.shape)} (config expects {list(want.shape)})")
        elif value.dtype.is_floating_point != want.dtype.is_floating_point:
            misfit.append(f"{name} has dtype {value.dtype} (expected {want.dtype})")
        else:
            fitted[name] = value.detach().to(want.dtype)
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if misfit:
        problems.append(f"wrong shape or type: {_names(misfit)}")
    if problems:
        raise CheckpointError(f"{source}: weights do not fit the config: {'; '.join(problems)}")
    return fitted


def place_state(G: Generator, state: dict, source: str) -> Generator:
    """Put the checked `state` into the meta-device G (the tensors are taken, not copied)."""
    G.load_state_dict(fit_state(G, state, source), strict=True, assign=True)
    left_empty = [name for name, t in [*G.named_parameters(), *G.named_buffers()] if t.is_meta]
    if left_empty:  # a tensor outside state_dict() (a non-persistent buffer) was added to G
        raise RuntimeError(f"loading cannot fill {', '.join(left_empty)}: not in state_dict()")
    return G


def build_generator(init_kwargs: dict, state: dict, source="checkpoint", init_args=()):
    """A CPU Generator from official-style constructor kwargs and an official-named state."""
    G = construct_on_meta(official_kwargs_to_ours(init_kwargs, init_args, source), source)
    return place_state(G, state, source)


def _check_binary(chunk, source: str) -> bytes:
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise CheckpointError(f"{source}: file object must be opened in binary mode ('rb')")
    return bytes(chunk)


@contextlib.contextmanager
def _binary_stream(path_or_file):
    """(seekable binary stream, name for messages); pickles are read from it without a copy."""
    if isinstance(path_or_file, (str, os.PathLike)):
        source = os.fspath(path_or_file)
        try:
            file = open(source, "rb")
        except FileNotFoundError:
            raise CheckpointError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise CheckpointError(f"{source}: is a directory, not a checkpoint file") from None
        except OSError as exc:
            raise CheckpointError(f"{source}: cannot read ({exc.strerror})") from None
        with file:
            yield file, source
        return
    if not hasattr(path_or_file, "read"):
        raise TypeError(
            f"load_generator takes a path or a binary file object, not {type(path_or_file)}"
        )
    source = str(getattr(path_or_file, "name", "<file object>"))
    seekable = getattr(path_or_file, "seekable", None)
    if seekable is not None and seekable():
        yield path_or_file, source
    else:
        yield io.BytesIO(_check_binary(path_or_file.read(), source)), source


def _decode(stream, source: str) -> Generator:
    start = stream.tell()
    head = _check_binary(stream.read(16), source)
    stream.seek(start)
    if not head:
        raise CheckpointError(f"{source}: empty file")
    if native_format.looks_like_safetensors(head):
        config, state = native_format.read_native(_check_binary(stream.read(), source), source)
        return build_generator(config, state, source)
    if head.startswith(b"PK\x03\x04"):
        raise CheckpointError(
            f"{source}: a zip archive (torch.save?), not a StyleGAN pickle or safetensors file"
        )
    if not head.startswith(b"\x80"):
        raise CheckpointError(f"{source}: not a checkpoint (neither a pickle nor safetensors)")
    unpickled = safe_load(stream, source)
    if legacy_tf.is_tf_pickle(unpickled):
        return _build_from_tf(unpickled[2], source)
    init_args, init_kwargs, state = read_official_pickle(unpickled, source)
    return build_generator(init_kwargs, state, source, init_args)


def _build_from_tf(Gs, source: str) -> Generator:
    variables = legacy_tf.tf_variables(Gs, source)
    kwargs = legacy_tf.generator_kwargs(Gs, variables, source)
    G = construct_on_meta(official_kwargs_to_ours(kwargs, source=source), source)
    state = legacy_tf.convert_variables(variables, G.state_dict().keys(), kwargs, source)
    return place_state(G, state, source)


def load_generator(path_or_file, device=None) -> Generator:
    """Load a generator from an official pickle, a legacy TF pickle or our safetensors file.

    `path_or_file`: a path (str or Path) or a binary file object. Returns the Generator in eval
    mode with `requires_grad` off (DragGAN optimises the latent, never the weights) on `device`
    (default CPU). Raises CheckpointError naming the problem when the file cannot be used.
    """
    with _binary_stream(path_or_file) as (stream, source):
        G = _decode(stream, source)
    return G.to(torch.device(device or "cpu")).eval().requires_grad_(False)
