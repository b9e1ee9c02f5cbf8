"""The project's own generator format: one safetensors file with its config in the header.

Layout of `model.safetensors`:
- tensors: `Generator.state_dict()` under the official names (`mapping.fc0.weight`,
  `synthesis.b8.conv0.affine.bias`, `...noise_const`, `...resample_filter`, ...), stored in the
  dtype they had (float32 for every generator this package builds);
- header `__metadata__` (safetensors allows a str -> str map there):
  - `format`: `"draggan-fast/generator"`,
  - `format_version`: `"1"`,
  - `config`: JSON of `Generator.init_kwargs` (`z_dim`, `c_dim`, `w_dim`, `img_resolution`,
    `img_channels`, `mapping_kwargs`, and the flat synthesis kwargs),
  - `drag_settings` (optional): JSON object of the drag settings recommended for this model, any
    of `lr`, `lambda_mask`, `r1`, `r2` (DragSession's names and units). A DragSession uses them
    for the settings its user leaves unset; a file without them gets the official defaults.
    `load_generator` puts them on the generator as `G.drag_settings` (a dict, or None).

All three generator families use this layout; which one a file holds is read from its tensors
and config as for pickles (`families.detect_family`): StyleGAN3 tensors include
`synthesis.input.*`, StyleGAN-Human configs carry `"square": false, "padding": true`.

Why one file rather than weights plus a sidecar `model.json`: the config cannot get separated from
or out of step with its weights when the file is copied, renamed or downloaded; any safetensors
tool can still read both (the header is plain JSON); and loading reads one untrusted input, not
two. Reading never runs code: safetensors holds raw tensor bytes and JSON only.
"""

import json
import math

import safetensors
import safetensors.torch
import torch

from draggan_fast.stylegan.errors import CheckpointError

FORMAT_NAME = "draggan-fast/generator"
FORMAT_VERSION = "1"
DRAG_SETTINGS_KEY = "drag_settings"
# name -> (smallest value, whether the smallest is excluded); the checks DragSession makes
DRAG_SETTING_LIMITS = {"lr": (0.0, True), "lambda_mask": (0.0, False), "r1": (0.0, True),
                       "r2": (0.0, False)}  # fmt: skip
_HEADER_SIZE_BYTES = 8  # little-endian u64 length of the JSON header that follows


def looks_like_safetensors(head: bytes) -> bool:
    """True when `head` (a file's first bytes) starts like safetensors: a u64 length, then '{'."""
    if len(head) < _HEADER_SIZE_BYTES + 1:
        return False
    header_size = int.from_bytes(head[:_HEADER_SIZE_BYTES], "little")
    first_char = head[_HEADER_SIZE_BYTES : _HEADER_SIZE_BYTES + 1]
    return 0 < header_size < 100_000_000 and first_char == b"{"


def check_drag_settings(settings, source: str) -> dict:
    """{name: float} of recommended drag settings, checked; CheckpointError naming the problem."""
    if not isinstance(settings, dict):
        raise CheckpointError(f"{source}: drag_settings must be a JSON object, got {settings!r}")
    unknown = sorted(set(settings) - set(DRAG_SETTING_LIMITS))
    if unknown:
        raise CheckpointError(
            f"{source}: unknown drag_settings {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(DRAG_SETTING_LIMITS)})"
        )
    checked = {}
    for name, value in settings.items():
        minimum, exclusive = DRAG_SETTING_LIMITS[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise CheckpointError(f"{source}: drag_settings {name} must be a finite number")
        if value < minimum or (exclusive and value == minimum):
            relation = ">" if exclusive else ">="
            raise CheckpointError(f"{source}: drag_settings {name} must be {relation} {minimum:g}")
        checked[name] = float(value)
    return checked


def encode_generator(G: torch.nn.Module) -> bytes:
    """The bytes of a `model.safetensors` holding generator `G` (weights + config, and
    `G.drag_settings` when it has them)."""
    config = json.dumps(G.init_kwargs, sort_keys=True)
    tensors = {name: value.detach().cpu().contiguous() for name, value in G.state_dict().items()}
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": config}
    drag_settings = getattr(G, "drag_settings", None)
    if drag_settings:
        settings = check_drag_settings(drag_settings, "generator")
        metadata[DRAG_SETTINGS_KEY] = json.dumps(settings, sort_keys=True)
    return safetensors.torch.save(tensors, metadata=metadata)


def with_drag_settings(data: bytes, settings: dict, source: str) -> bytes:
    """The bytes of model file `data` with its header's drag_settings replaced by `settings`;
    the tensor bytes that follow the header stay byte-identical (only the header is rewritten)."""
    checked = check_drag_settings(settings, source)
    read_native_metadata(data, source)  # a draggan-fast generator file, or CheckpointError
    header_end = _HEADER_SIZE_BYTES + int.from_bytes(data[:_HEADER_SIZE_BYTES], "little")
    header = json.loads(data[_HEADER_SIZE_BYTES:header_end])
    header["__metadata__"][DRAG_SETTINGS_KEY] = json.dumps(checked, sort_keys=True)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # safetensors pads its header to 8 bytes with spaces
    return len(encoded).to_bytes(_HEADER_SIZE_BYTES, "little") + encoded + data[header_end:]


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


def read_native_metadata(data: bytes, source: str) -> dict:
    """The checked header metadata of a `model.safetensors` (format, version)."""
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
    return metadata


def read_drag_settings(metadata: dict, source: str) -> dict | None:
    """The model's recommended drag settings from its header metadata, checked; None when the
    file recommends none."""
    text = metadata.get(DRAG_SETTINGS_KEY)
    if text is None:
        return None
    try:
        settings = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: drag_settings is not valid JSON ({exc})") from None
    return check_drag_settings(settings, source)


def read_native(data: bytes, source: str) -> tuple[dict, dict, dict | None]:
    """(generator config, state dict of CPU tensors, recommended drag settings or None) from the
    bytes of a `model.safetensors`."""
    metadata = read_native_metadata(data, source)
    drag_settings = read_drag_settings(metadata, source)
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
    return config, state, drag_settings
