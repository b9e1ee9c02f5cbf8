"""A session's own generator weights: written beside its files, named and hashed in its JSON.

A drag on a real photo runs on the photo's pivotally tuned generator (`draggan_fast.invert`),
which no model file holds: a saved session must carry it to reopen with the same images.

Which generators are saved: those marked with `mark_tuned(G)` (the attribute
`G.draggan_fast_tuned = True`). `draggan_fast.invert` marks the tuned copy it returns, and
`DragSession.load` marks the generator it restores from a session's weights, so saving a
reopened real-photo session writes them again. A plain attribute (not a weight comparison
against some base model) because the session knows no base: it travels with the module through
`copy.deepcopy` and `.to(device)`. Mark your own fine-tuned generators the same way, or pass
`DragSession.save(path, include_generator=True)`.

Layout: `<session>.safetensors` beside `<session>.json` in draggan-fast's generator format
(`draggan_fast/stylegan/native_format.py`: weights + config, no code), and in the JSON
`"generator_file": {"file": "<name>.safetensors", "sha256": "<hex of the file's bytes>"}`.
As with the arrays' .npz, the file read is always the session's own name with .safetensors
(`file` records it for people): a session renamed or staged under another name, its files
together, still opens, and a JSON can never point at another path. Reading trusts nothing: the
bytes must hash to the recorded sha256 and parse as our safetensors format (a pickle is refused
before anything is parsed); every failure is one line, ValueError("not a valid session
file: ...").
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

TUNED_ATTRIBUTE = "draggan_fast_tuned"
SUFFIX = ".safetensors"
MAX_BYTES = 4 << 30  # a 1024-px StyleGAN2 generator is ~120 MB; refuse absurd files unread


def mark_tuned(G: torch.nn.Module) -> torch.nn.Module:
    """Mark G as having weights of its own (no model file holds them): sessions save them."""
    setattr(G, TUNED_ATTRIBUTE, True)
    return G


def is_tuned(G: torch.nn.Module) -> bool:
    return getattr(G, TUNED_ATTRIBUTE, False) is True


def generator_path(session_path) -> Path:
    """Where a session saved at `session_path` keeps its generator: the same name, .safetensors."""
    return Path(session_path).with_suffix(SUFFIX)


def write_generator(G: torch.nn.Module, session_path) -> dict:
    """Write G beside the session; -> the JSON entry {"file": name, "sha256": hex}."""
    from draggan_fast.stylegan.native_format import encode_generator

    data = encode_generator(G)
    path = generator_path(session_path)
    path.write_bytes(data)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def _require(condition, message):
    if not condition:
        raise ValueError(f"not a valid session file: {message}")


def check_entry(entry) -> dict:
    """The JSON's "generator_file" entry, checked: {"file": str, "sha256": 64 hex digits}."""
    _require(isinstance(entry, dict), "generator_file is not a JSON object")
    name, digest = entry.get("file"), entry.get("sha256")
    _require(isinstance(name, str), "generator_file.file must be a file name")
    _require(
        isinstance(digest, str) and len(digest) == 64
        and all(char in "0123456789abcdef" for char in digest),
        "generator_file.sha256 must be 64 lower-case hex digits",
    )  # fmt: skip
    return {"file": name, "sha256": digest}


def read_generator(entry, session_path, device=None) -> torch.nn.Module:
    """The generator a session file names (its JSON "generator_file" entry), checked against
    its sha256 and read as safetensors only, on `device` (default CPU), marked as tuned."""
    from draggan_fast.stylegan.errors import CheckpointError
    from draggan_fast.stylegan.loading import load_generator
    from draggan_fast.stylegan.native_format import looks_like_safetensors

    entry = check_entry(entry)
    path = generator_path(session_path)  # not entry["file"]: see the module docstring
    _require(path.is_file(), f"its generator file {path} is missing")
    size = path.stat().st_size
    _require(size <= MAX_BYTES, f"{path}: {size} bytes, more than {MAX_BYTES} for a generator")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    _require(
        digest == entry["sha256"],
        f"{path}: sha256 {digest[:12]}... does not match the session's {entry['sha256'][:12]}...",
    )
    _require(looks_like_safetensors(data[:16]), f"{path}: not a safetensors file")
    try:
        G = load_generator(io.BytesIO(data), device=device)
    except CheckpointError as exc:
        _require(False, f"{path}: {str(exc).removeprefix('<file object>: ')}")
    return mark_tuned(G)
