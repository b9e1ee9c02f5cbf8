"""The project's own generator format: one safetensors file with its config in the header.

Layout of `model.safetensors`:
- tensors: `Generator.state_dict()` under the official names (`mapping.fc0.weight`,
  `synthesis.b8.conv0.affine.bias`, `...noise_const`, `...resample_filter`, ...), stored in the
  dtype they had (float32 for every generator this package builds);
- header `__metadata__` (safetensors allows a str -> str map there):
  - `format`: `"draggan-fast/generator"`,
  - `format_version`: `"1"`,
  - `config`: JSON of `Generator.init_kwargs` (`z_dim`, `c_dim`, `w_dim`, `img_resolution`,
    `img_channels`, `mapping_kwargs`, and the flat synthesis kwargs).

All three generator families use this layout; which one a file holds is read from its tensors
and config as for pickles (`families.detect_family`): StyleGAN3 tensors include
`synthesis.input.*`, StyleGAN-Human configs carry `"square": false, "padding": true`.

Why one file rather than weights plus a sidecar `model.json`: the config cannot get separated from
or out of step with its weights when the file is copied, renamed or downloaded; any safetensors
tool can still read both (the header is plain JSON); and loading reads one untrusted input, not
two. Reading never runs code: safetensors holds raw tensor bytes and JSON only.
"""

import json

import safetensors
import safetensors.torch
import torch

from draggan_fast.stylegan.errors import CheckpointError

FORMAT_NAME = "draggan-fast/generator"
FORMAT_VERSION = "1"
_HEADER_SIZE_BYTES = 8  # little-endian u64 length of the JSON header that follows


def looks_like_safetensors(head: bytes) -> bool:
    """True when `head` (a file's first bytes) starts like safetensors: a u64 length, then '{'."""
    if len(head) < _HEADER_SIZE_BYTES + 1:
        return False
    header_size = int.from_bytes(head[:_HEADER_SIZE_BYTES], "little")
    first_char = head[_HEADER_SIZE_BYTES : _HEADER_SIZE_BYTES + 1]
    return 0 < header_size < 100_000_000 and first_char == b"{"


def encode_generator(G: torch.nn.Module) -> bytes:
    """The bytes of a `model.safetensors` holding generator `G` (weights + config)."""
    config = json.dumps(G.init_kwargs, sort_keys=True)
    tensors = {name: value.detach().cpu().contiguous() for name, value in G.state_dict().items()}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": config}
    return safetensors.torch.save(tensors, metadata=metadata)


def save_generator(G: torch.nn.Module, path_or_file) -> None:
    """Write generator `G` to a path (str or Path) or a binary file object, as safetensors."""
    data = encode_generator(G)
    if hasattr(path_or_file, "write"):
        path_or_file.write(data)
        return
    with open(path_or_file, "wb") as file:
        file.write(data)


def _read_metadata(data: bytes, source: str) -> dict:
    header_size = int.from_bytes(data[:_HEADER_SIZE_BYTES], "little")
    header_end = _HEADER_SIZE_BYTES + header_size
    if header_end > len(data):
        raise CheckpointError(f"{source}: truncated safetensors file (header cut short)")
    try:
        header = json.loads(data[_HEADER_SIZE_BYTES:header_end])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{source}: safetensors header is not valid JSON ({exc})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def read_native(data: bytes, source: str) -> tuple[dict, dict]:
    """(generator config, state dict of CPU tensors) from the bytes of a `model.safetensors`."""
    metadata = _read_metadata(data, source)
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{source}: safetensors file without a draggan-fast generator config "
            f"(header metadata 'format' is {metadata.get('format')!r}, "
            f"expected {FORMAT_NAME!r}); write it with save_generator or `draggan-fast convert`"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: unsupported draggan-fast format_version "
            f"{metadata.get('format_version')!r} (this version reads {FORMAT_VERSION!r})"
        )
    try:
        config = json.loads(metadata.get("config", ""))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: generator config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: generator config must be a JSON object")
    try:
        state = safetensors.torch.load(data)
    except safetensors.SafetensorError as exc:
        raise CheckpointError(f"{source}: corrupt or truncated safetensors file ({exc})") from None
    return config, state
