"""Parsing of command-line values shared by the commands; errors are one-line CommandErrors."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from draggan_fast.cli import CommandError

MAX_SEED = 2**32 - 1
MAX_SEEDS = 100_000
MAX_STEPS = 10**9  # DragSession.run's limit (draggan_fast.session.MAX_STEPS; a test checks)


def parse_points(text: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """ "x,y->x,y; x,y->x,y" -> [((handle_x, handle_y), (target_x, target_y)), ...]."""
    pairs = []
    for part in (piece.strip() for piece in text.split(";")):
        if not part:
            continue
        ends = part.split("->")
        if len(ends) != 2:
            raise CommandError(f"--points: {part!r} is not 'x,y->x,y'")
        pairs.append(tuple(_parse_xy(end, part) for end in ends))
    if not pairs:
        raise CommandError("--points: give at least one 'x,y->x,y' pair")
    return pairs


def _parse_xy(text: str, part: str) -> tuple[float, float]:
    coords = text.split(",")
    try:
        x, y = (float(value) for value in coords)
    except ValueError:
        raise CommandError(f"--points: {part!r}: {text.strip()!r} is not 'x,y'") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise CommandError(f"--points: {part!r}: coordinates must be finite")
    return x, y


def parse_seeds(text: str) -> list[int]:
    """ "0-7", "3", "0,4,10-12" -> the seeds in the order given (ranges inclusive)."""
    seeds = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            start = int(first)
            stop = int(last) if last else start
        except ValueError:
            raise CommandError(f"--seeds: {part!r} is not a seed or a range like 0-7") from None
        if not 0 <= start <= stop <= MAX_SEED:
            raise CommandError(f"--seeds: {part!r} must be a range a-b with 0 <= a <= b < 2**32")
        if len(seeds) + stop - start + 1 > MAX_SEEDS:
            raise CommandError(f"--seeds: more than {MAX_SEEDS} seeds")
        seeds.extend(range(start, stop + 1))
    if not seeds:
        raise CommandError("--seeds: give at least one seed, e.g. 0-7")
    return seeds


def parse_backends(option: str, text: str) -> list[str]:
    """ "fast, reference" -> ["fast", "reference"]: names of `step.backend`'s registry, each
    once, in the order given. `option` ("--backend", "--backends") names the flag in errors."""
    from draggan_fast.step.backend import backend_names

    known = backend_names()
    backends = []
    for name in (piece.strip() for piece in text.split(",")):
        if not name:
            continue
        if name not in known:
            raise CommandError(f"{option}: unknown backend {name!r}; known: {', '.join(known)}")
        if name in backends:
            raise CommandError(f"{option}: names backend {name!r} twice")
        backends.append(name)
    if not backends:
        raise CommandError(f"{option}: give at least one backend of {', '.join(known)}")
    return backends


def add_model_argument(parser):
    """--model PATH, default the bundled model: read back with `model_path(args.model)`."""
    parser.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="generator file (official pickle or draggan-fast safetensors; default: the bundled "
        "model, draggan_fast.default_model_path())",
    )


def model_path(given: Path | None) -> Path:
    """--model's value, or the bundled model's path; a one-line error when neither exists."""
    if given is not None:
        return given
    from draggan_fast.assets_registry import default_model_path

    try:
        return default_model_path()
    except FileNotFoundError as exc:
        raise CommandError(f"no --model given and no bundled model: {exc}") from None


def add_device_argument(parser):
    """--device, read back with `pick_device`."""
    parser.add_argument("--device", help="torch device (default: cuda when available)")


def pick_device(requested: str | None) -> str:
    """--device value -> a torch device string (None or "auto": cuda when available)."""
    import torch

    if requested is None or requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise CommandError(f"--device {requested!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {requested}: CUDA is not available here")
    return str(device)


def image_suffixes() -> set[str]:
    """File suffixes PIL can write."""
    from PIL import Image

    Image.init()
    extensions = Image.registered_extensions()
    return {suffix for suffix, fmt in extensions.items() if fmt in Image.SAVE}


def int_in(minimum: int, maximum: int):
    """argparse type: an integer in [minimum, maximum] (argparse names the option in errors)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be in [{minimum}, {maximum}], got {value}")
        return value

    return parse


def finite_float(minimum: float | None = None, *, above: bool = False):
    """argparse type: a finite number, at least (or with above, more than) `minimum`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        if minimum is not None and (value <= minimum if above else value < minimum):
            relation = ">" if above else ">="
            raise argparse.ArgumentTypeError(f"must be {relation} {minimum:g}, got {value:g}")
        return value

    return parse


def add_drag_setting_arguments(parser, names=("lr", "r1", "r2", "lambda_mask")):
    """--lr, --r1, --r2, --lambda-mask (those in `names`), default None: the model's recommended
    value (its metadata), else the official one; read back with `drag_settings(args)`."""
    recommended = "default: the model's recommended value, else the official"
    options = {
        "lr": (finite_float(0, above=True), f"Adam learning rate ({recommended} 1e-3)"),
        "r1": (finite_float(0, above=True), f"motion radius, 512-px units ({recommended} 3)"),
        "r2": (finite_float(0, above=True), f"tracking radius, 512-px units ({recommended} 12)"),
        "lambda_mask": (finite_float(0), f"weight of the mask term ({recommended} 20)"),
    }
    for name in names:
        kind, text = options[name]
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)


def drag_settings(args) -> dict:
    """The drag settings given on the command line (unset ones left to the session)."""
    names = ("lr", "r1", "r2", "lambda_mask")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


# The names DragSession's errors use -> the options that set them.
SESSION_OPTIONS = {
    "seed": "--seed", "truncation_psi": "--psi", "truncation_cutoff": "--truncation-cutoff",
    "latent_space": "--latent-space", "n_optimized_layers": "--optimized-layers", "lr": "--lr",
    "r1": "--r1", "r2": "--r2", "lambda_mask": "--lambda-mask", "tracking": "--tracking",
    "noise_mode": "--noise-mode", "backend": "--backend", "max_steps": "--steps",
    "mask": "--mask",
}  # fmt: skip


def option_error(exc: Exception) -> CommandError:
    """A session's ValueError ("lr must be > 0, ...") as the CLI says it ("--lr must be ...")."""
    message = str(exc)
    for name, option in SESSION_OPTIONS.items():
        if message.startswith(f"{name} "):
            return CommandError(option + message[len(name) :])
    return CommandError(message)
