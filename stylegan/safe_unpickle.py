"""A restricted unpickler for StyleGAN checkpoints: data in, never code.

Official pickles name three kinds of globals:
- tensor, array and container reconstruction (torch's and numpy's reduce functions,
  `collections.OrderedDict`, `_codecs.encode`, `dnnlib.util.EasyDict`): admitted, each through a
  wrapper that checks its arguments; torch storages go through `torch.load(weights_only=True)`;
- `torch_utils.persistence._reconstruct_persistent_obj(meta)` (official persistent classes,
  whose `meta.module_src` is Python source that the official loader executes) and
  `dnnlib.tflib.network.Network` (legacy TensorFlow networks, with `build_module_src`): mapped to
  inert records that keep the persisted state and never import, compile or execute the source;
- anything else (`os.system`, `builtins.eval`, `subprocess.Popen`, other classes): refused with a
  CheckpointError naming the global, before it is ever looked up.
"""

import _compat_pickle
import codecs
import collections
import io
import pickle
import warnings

import numpy as np
import torch

from draggan_fast.stylegan.errors import CheckpointError


class PersistentObject:
    """An official persistent-class instance as data: class name, state, unexecuted source."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name = class_name
        self.state = (
            state  # the module's __dict__: _parameters, _buffers, _modules, _init_kwargs...
        )
        self.module_src = module_src  # kept for inspection only; never executed

    def __setstate__(self, state):
        raise CheckpointError("persistent object carries unexpected extra state")


class TFNetwork:
    """A legacy `dnnlib.tflib.network.Network` as data: its pickled state dict, nothing run."""

    def __init__(self):
        self.state = {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError("TensorFlow network state is not a dict")
        self.state = state


_PERSISTENCE_VERSION = 6


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("persistent object meta is not a class record")
    if meta.get("version") != _PERSISTENCE_VERSION:
        raise CheckpointError(
            f"persistent object version {meta.get('version')!r} "
            f"(the official format is version {_PERSISTENCE_VERSION})"
        )
    state = meta.get("state")
    class_name = meta.get("class_name")
    if not isinstance(state, dict) or not isinstance(class_name, str):
        raise CheckpointError(f"persistent object {class_name!r} without a state dict")
    return PersistentObject(class_name, state, str(meta.get("module_src", "")))


def _load_from_bytes(data):
    """torch's storage reduce: the bytes of a torch.save()d storage, read as weights only."""
    if not isinstance(data, bytes):
        raise CheckpointError("tensor storage is not a bytes object")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"tensor storage decoded to a {type(storage).__name__}")
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *_hooks):
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"tensor built on a {type(storage).__name__}, not a storage")
    if not all(isinstance(n, int) for n in (storage_offset, *size, *stride)):
        raise CheckpointError("tensor size, stride or offset is not made of integers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch._utils._rebuild_tensor_v2(
            storage, storage_offset, tuple(size), tuple(stride), bool(requires_grad),
            collections.OrderedDict(),
        )  # fmt: skip


def _rebuild_parameter(data, requires_grad, _hooks, _state=None):
    """Parameters become plain tensors: hooks and extra state from the file are dropped."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointError(f"parameter built on a {type(data).__name__}, not a tensor")
    return data


class NdarrayType:
    """Stands in for the `numpy.ndarray` global, which pickles pass only as `_reconstruct`'s
    first argument; unlike the real class it cannot be called to allocate arrays of any size."""


def _numpy_reconstruct(subtype, shape, dtype):
    """numpy's array reduce: an empty placeholder `_reconstruct(ndarray, (0,), b'b')` that the
    pickle's BUILD then fills from its own bytes; any other shape would allocate on request."""
    if subtype is not NdarrayType:
        raise CheckpointError("numpy array reconstruction of a type other than numpy.ndarray")
    if not isinstance(shape, (tuple, list)) or tuple(shape) != (0,):
        raise CheckpointError(f"numpy array reconstruction with shape {shape!r}, not (0,)")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


def _numpy_frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 array reduce (out-of-band capable buffers)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise CheckpointError("numpy buffer array with an object dtype")
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)) or order not in ("C", "F"):
        raise CheckpointError("numpy buffer array without a plain byte buffer")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise CheckpointError("numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _codecs_encode(text, encoding="utf-8"):
    """Protocol 2 writes bytes as `_codecs.encode(str, 'latin1')`: only text codecs pass."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise CheckpointError(f"_codecs.encode with codec {encoding!r}")
    return codecs.encode(text, encoding)


_ADMITTED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): dict,
    ("numpy", "ndarray"): NdarrayType,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `_ADMITTED`; refuses the rest by name."""

    def find_class(self, module, name):
        # Protocol 0-2 pickles may use Python 2 names (`__builtin__.set`): translate as pickle does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        admitted = _ADMITTED.get((module, name))
        if admitted is None:
            raise CheckpointError(
                f"refusing global {module}.{name}: not needed to rebuild tensors, arrays or "
                "containers (the checkpoint may be malicious)"
            )
        return admitted

    def persistent_load(self, pid):
        raise CheckpointError("refusing a pickle persistent id (not a StyleGAN checkpoint)")


def safe_load(file, source="checkpoint"):
    """Unpickle from binary `file` with RestrictedUnpickler; every failure is a CheckpointError."""
    try:
        return RestrictedUnpickler(file).load()
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    except EOFError:
        raise CheckpointError(f"{source}: truncated pickle (ran out of data)") from None
    except pickle.UnpicklingError as exc:
        if "truncated" in str(exc):
            raise CheckpointError(f"{source}: truncated pickle ({exc})") from None
        raise CheckpointError(f"{source}: not a valid pickle ({exc})") from None
    except (
        AttributeError, IndexError, KeyError, MemoryError, RuntimeError, TypeError, ValueError,
        UnicodeDecodeError, OverflowError,
    ) as exc:  # fmt: skip
        raise CheckpointError(f"{source}: malformed pickle ({type(exc).__name__}: {exc})") from None
