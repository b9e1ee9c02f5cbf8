"""`load_generator`: official pickles, legacy TensorFlow pickles and our safetensors format, for
StyleGAN2, StyleGAN-Human and StyleGAN3 generators (`families`: recognised from the data).

No code from a checkpoint ever runs: pickles go through `safe_unpickle` (a restricted unpickler
that admits tensor, array and container reconstruction only), safetensors holds bytes and JSON.
Every format ends as (official constructor kwargs, official-named state dict), which
`build_generator` checks against each other before any weight is placed: names, shapes and
dtypes must fit the config, and every value must be finite (a NaN or inf weight is an error).
"""

import contextlib
import io
import os

import torch

from draggan_fast.stylegan import families, legacy_tf, native_format
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.native_format import save_generator
from draggan_fast.stylegan.official_pickle import read_official_pickle
from draggan_fast.stylegan.safe_unpickle import safe_load

__all__ = ["build_generator", "load_generator", "official_kwargs_to_ours", "save_generator"]

_MAX_NAMES_IN_MESSAGE = 8


def official_kwargs_to_ours(
    init_kwargs: dict, init_args=(), source="checkpoint", family="stylegan2"
) -> dict:
    """Official constructor kwargs of a `family` generator -> our Generator's kwargs (see
    `families.normalize_kwargs`)."""
    return families.normalize_kwargs(family, init_kwargs, init_args, source)


def _names(names) -> str:
    names = list(names)
    shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGE])
    more = len(names) - _MAX_NAMES_IN_MESSAGE
    return f"{shown} (and {more} more)" if more > 0 else shown


def construct_on_meta(kwargs: dict, source: str, family="stylegan2") -> torch.nn.Module:
    """An empty (meta-device) Generator for already normalised kwargs: no memory, no init cost."""
    try:
        with torch.device("meta"):
            return families.generator_class(family)(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: generator config does not build ({exc})") from None


def fit_state(G: torch.nn.Module, state: dict, source: str) -> dict:
    """`state` checked against G's expected names, shapes and dtypes; floats cast to G's dtype.

    Raises CheckpointError naming every missing, unexpected and mis-shaped entry.
    """
    expected = G.state_dict()
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    misfit, non_finite, fitted = [], [], {}
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
        elif value.dtype.is_floating_point and not bool(torch.isfinite(value).all()):
            non_finite.append(name)
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
    if non_finite:
        raise CheckpointError(f"{source}: non-finite values (NaN or inf) in {_names(non_finite)}")
    return fitted


def place_state(G: torch.nn.Module, state: dict, source: str) -> torch.nn.Module:
    """Put the checked `state` into the meta-device G (the tensors are taken, not copied)."""
    G.load_state_dict(fit_state(G, state, source), strict=True, assign=True)
    left_empty = [name for name, t in [*G.named_parameters(), *G.named_buffers()] if t.is_meta]
    if left_empty:  # a tensor outside state_dict() (a non-persistent buffer) was added to G
        raise RuntimeError(f"loading cannot fill {', '.join(left_empty)}: not in state_dict()")
    return G


def build_generator(init_kwargs: dict, state: dict, source="checkpoint", init_args=()):
    """A CPU Generator from official-style constructor kwargs and an official-named state; the
    family (StyleGAN2, StyleGAN-Human, StyleGAN3) is read from both (`families.detect_family`)."""
    family = families.detect_family(init_kwargs, state)
    kwargs = official_kwargs_to_ours(init_kwargs, init_args, source, family)
    return place_state(construct_on_meta(kwargs, source, family), state, source)


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


def _decode(stream, source: str) -> torch.nn.Module:
    start = stream.tell()
    head = _check_binary(stream.read(16), source)
    stream.seek(start)
    if not head:
        raise CheckpointError(f"{source}: empty file")
    if native_format.looks_like_safetensors(head):
        data = _check_binary(stream.read(), source)
        config, state, drag_settings = native_format.read_native(data, source)
        G = build_generator(config, state, source)
        G.drag_settings = drag_settings  # the model's recommended drag settings (or None)
        return G
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


def _build_from_tf(Gs, source: str) -> torch.nn.Module:
    variables = legacy_tf.tf_variables(Gs, source)
    kwargs = legacy_tf.generator_kwargs(Gs, variables, source)
    G = construct_on_meta(official_kwargs_to_ours(kwargs, source=source), source)
    state = legacy_tf.convert_variables(variables, G.state_dict().keys(), kwargs, source)
    return place_state(G, state, source)


def load_generator(path_or_file, device=None) -> torch.nn.Module:
    """Load a generator from an official pickle, a legacy TF pickle or our safetensors file.

    `path_or_file`: a path (str or Path) or a binary file object. Returns the Generator in eval
    mode with `requires_grad` off (DragGAN optimises the latent, never the weights) on `device`
    (default CPU). Raises CheckpointError naming the problem when the file cannot be used.
    """
    with _binary_stream(path_or_file) as (stream, source):
        G = _decode(stream, source)
    return G.to(torch.device(device or "cpu")).eval().requires_grad_(False)
