"""Malicious pickles: each payload is first shown to be live (the stock unpickler runs it and the
marker file appears); then load_generator refuses it, names the global, and the marker never
appears."""

import builtins
import collections
import importlib
import io
import os
import pickle
import shlex
import subprocess
import sys

import pytest

from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.loading import load_generator
from tests.stylegan.pickle_official import (
    dumps,
    nested_kwargs,
    official_checkpoint,
    small_generator,
)


class Call:
    """Pickles as `function(*args)`: what a malicious `__reduce__` asks the unpickler to do."""

    def __init__(self, function, *args):
        self.function = function
        self.args = args

    def __reduce__(self):
        return self.function, self.args


def _system(marker):
    return Call(os.system, f"touch {shlex.quote(str(marker))}")


def _eval(marker):
    return Call(builtins.eval, f"__import__('pathlib').Path({str(marker)!r}).write_text('x')")


def _popen(marker):
    return Call(subprocess.Popen, ["touch", str(marker)])


def _run_stock_unpickler(data):
    """What the official loader would do: pickle.load. Waits for a spawned process."""
    result = pickle.loads(data)
    if isinstance(result, subprocess.Popen):
        result.wait()


PAYLOADS = {
    "os.system": (_system, r"refusing global (posix|nt|os)\.system"),
    "builtins.eval": (_eval, r"refusing global builtins\.eval"),
    "subprocess.Popen": (_popen, r"refusing global subprocess\.Popen"),
}


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("protocol", [2, 4])
def test_payload_is_refused_and_never_runs(tmp_path, payload, protocol):
    make_payload, refusal = PAYLOADS[payload]
    marker = tmp_path / "pwned"
    data = pickle.dumps(make_payload(marker), protocol=protocol)
    _run_stock_unpickler(data)
    assert marker.exists(), "the payload must be live, or this test proves nothing"
    marker.unlink()
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=refusal) as info:
        load_generator(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["augment_pipe", "parameter", "init_kwargs"])
def test_payload_hidden_inside_a_valid_checkpoint(tmp_path, where):
    G = small_generator()
    marker = tmp_path / "pwned"
    checkpoint = official_checkpoint(G, nested_kwargs(G.init_kwargs))
    mapping = checkpoint["G_ema"].state["_modules"]["mapping"]
    if where == "augment_pipe":
        checkpoint["augment_pipe"] = _system(marker)
    elif where == "parameter":
        mapping.state["_buffers"]["w_avg"] = _system(marker)
    else:
        checkpoint["G_ema"].state["_init_kwargs"]["z_dim"] = _system(marker)
    with pytest.raises(CheckpointError, match=PAYLOADS["os.system"][1]):
        load_generator(io.BytesIO(dumps(checkpoint)))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("reduce_call", "refusal"),
    [
        (Call(getattr, "text", "upper"), r"builtins\.getattr"),
        (Call(__import__, "os"), r"builtins\.__import__"),
        (Call(importlib.import_module, "os"), r"importlib\.import_module"),
        (Call(collections.namedtuple, "Point", "x y"), r"collections\.namedtuple"),
    ],
)
def test_code_reaching_globals_are_refused(reduce_call, refusal):
    with pytest.raises(CheckpointError, match=refusal):
        load_generator(io.BytesIO(pickle.dumps(reduce_call, protocol=4)))


def test_admitted_globals_check_their_arguments():
    import codecs

    import numpy as np

    from draggan_fast.stylegan import safe_unpickle

    rot13 = pickle.dumps(Call(codecs.encode, "text", "rot13"), protocol=4)
    with pytest.raises(CheckpointError, match=r"_codecs\.encode with codec 'rot13'"):
        load_generator(io.BytesIO(rot13))
    reconstruct = sys.modules[np.ndarray.__reduce__(np.zeros(1))[0].__module__]._reconstruct
    other_type = pickle.dumps(Call(reconstruct, collections.OrderedDict, (0,), b"b"), protocol=4)
    with pytest.raises(CheckpointError, match=r"type other than numpy\.ndarray"):
        load_generator(io.BytesIO(other_type))
    sized = pickle.dumps(Call(reconstruct, np.ndarray, (1 << 30,), b"b"), protocol=4)
    with pytest.raises(CheckpointError, match=r"shape \(1073741824,\), not \(0,\)"):
        load_generator(io.BytesIO(sized))
    allocate = pickle.dumps(Call(np.ndarray, (1 << 40,)), protocol=4)
    with pytest.raises(CheckpointError, match="malformed pickle"):
        load_generator(io.BytesIO(allocate))
    with pytest.raises(CheckpointError, match="not a storage"):
        safe_unpickle._rebuild_tensor_v2(b"bytes", 0, (1,), (1,))


def test_persistent_ids_are_refused():
    class WithPersistentId(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, bytes) else None

    buffer = io.BytesIO()
    WithPersistentId(buffer, protocol=4).dump({"G_ema": b"weights"})
    with pytest.raises(CheckpointError, match="persistent id"):
        load_generator(io.BytesIO(buffer.getvalue()))
