"""`draggan-fast invert`: a photo -> a drag session on it (projection, then pivotal tuning).

Writes, all or nothing (staged in a hidden folder beside --out, then moved into place):
- SESSION.json + SESSION.npz: the drag session (`DragSession.save`), starting at the inversion's
  latent; continue it with `draggan-fast drag --session SESSION.json` or, in Python,
  `DragSession.load(SESSION.json)`;
- SESSION.safetensors: the generator the session runs on (the pivotally tuned copy of --model;
  --model itself, re-saved, with --no-tuning), in draggan-fast's safetensors format, written by
  `DragSession.save(..., include_generator=True)`: the session JSON names it with its sha256;
- SESSION.png: the photo as the generator sees it (cropped, resized) | the reconstruction;
- --json REPORT: psnr_projection, psnr_tuned, seconds_projection, seconds_tuning and settings.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import add_device_argument, pick_device
from draggan_fast.cli.outputs import check_output

NAME = "invert"
HELP = "invert a photo into the generator (W+ projection + pivotal tuning) as a drag session"


def add_arguments(parser):
    parser.add_argument("photo", type=Path, help="the photo (any image format Pillow reads)")
    parser.add_argument("--model", type=Path, default=None,
                        help="generator file (default: the bundled model)")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="session file SESSION.json")
    parser.add_argument(
        "--latent-space",
        choices=["w", "w+"],
        default="w+",
        help="projected latent: one w, or one per style input",
    )
    parser.add_argument("--steps", type=int, default=None,
                        help="projection steps (default: draggan_fast.invert's)")  # fmt: skip
    tuning = parser.add_mutually_exclusive_group()
    tuning.add_argument("--tuning-steps", type=int, default=None,
                        help="pivotal tuning steps (default: draggan_fast.invert's)")  # fmt: skip
    tuning.add_argument("--no-tuning", action="store_true", help="skip pivotal tuning")
    add_device_argument(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write a JSON report")


def output_paths(out: Path) -> dict:
    """The files written beside SESSION.json, by role."""
    return {
        "session": out, "arrays": out.with_suffix(".npz"),
        "generator": out.with_suffix(".safetensors"), "comparison": out.with_suffix(".png"),
    }  # fmt: skip


def _check_arguments(args):
    if any(value is not None and value < 0 for value in (args.steps, args.tuning_steps)):
        raise CommandError("--steps and --tuning-steps must be >= 0")
    if not args.photo.is_file():
        raise CommandError(f"{args.photo}: no such file")
    check_output("--out", args.out, {".json"})
    if args.json is not None:
        check_output("--json", args.json, {".json"})
        if args.json.resolve() in {p.resolve() for p in output_paths(args.out).values()}:
            raise CommandError(f"--json {args.json}: is one of the session's own files")
    for path in [args.out] + ([args.json] if args.json is not None else []):
        if not os.access(path.parent, os.W_OK):
            raise CommandError(f"{path}: folder {path.parent} is not writable")


def _write_outputs(args, inversion, session):
    """Stage every file in a hidden folder beside --out, then move each into place."""
    from PIL import Image

    paths = output_paths(args.out)
    staging = Path(tempfile.mkdtemp(prefix=".invert-", dir=args.out.parent))
    report_tmp = None
    try:
        staged = {role: staging / path.name for role, path in paths.items()}
        # also writes staged["arrays"] and staged["generator"], named and hashed in the JSON
        session.save(staged["session"], include_generator=True)
        photo, image = inversion.photo, inversion.image
        side_by_side = Image.new("RGB", (photo.shape[1] + image.shape[1], photo.shape[0]))
        side_by_side.paste(Image.fromarray(photo), (0, 0))
        side_by_side.paste(Image.fromarray(image), (photo.shape[1], 0))
        side_by_side.save(staged["comparison"])
        if args.json is not None:
            fd, report_tmp = tempfile.mkstemp(prefix=".invert-", dir=args.json.parent)
            with os.fdopen(fd, "w") as file:
                json.dump(_report(args, inversion, paths), file, indent=1)
        for role, path in paths.items():
            os.replace(staged[role], path)
        if report_tmp is not None:
            os.replace(report_tmp, args.json)
            report_tmp = None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if report_tmp is not None and os.path.exists(report_tmp):
            os.unlink(report_tmp)
    return paths


def _report(args, inversion, paths) -> dict:
    return {
        **{key: inversion.metrics[key] for key in (
            "psnr_projection", "psnr_tuned", "seconds_projection", "seconds_tuning")},
        "settings": {key: inversion.metrics[key] for key in (
            "latent_space", "steps", "tuning_steps", "perceptual")},
        "photo": str(args.photo), "files": {role: str(path) for role, path in paths.items()},
    }  # fmt: skip


def run(args) -> int:
    from tqdm import tqdm

    from draggan_fast import DragSession, invert, load_generator
    from draggan_fast.assets_registry import default_model_path

    _check_arguments(args)
    device = pick_device(args.device)
    G = load_generator(args.model or default_model_path(), device=device)
    options = {"latent_space": args.latent_space, "pivotal_tuning": not args.no_tuning}
    for name in ("steps", "tuning_steps"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    bars = []  # one per stage, opened by its first step (a bad photo fails before any)

    def on_step(progress):
        if progress.step == 1:
            if bars:
                bars[-1].close()
            bars.append(tqdm(total=progress.total, desc=progress.stage, unit="step",
                             dynamic_ncols=True, leave=False))  # fmt: skip
        bars[-1].update(1)
        bars[-1].set_postfix_str(f"loss {progress.loss:.4f}", refresh=False)

    try:
        inversion = invert(G, args.photo, progress=on_step, **options)
    finally:
        if bars:
            bars[-1].close()
    session = DragSession(inversion.generator, w=inversion.w, latent_space=args.latent_space)
    paths = _write_outputs(args, inversion, session)
    metrics = inversion.metrics
    tuned = "" if metrics["psnr_tuned"] is None else (
        f", after tuning {metrics['psnr_tuned']:.2f} dB ({metrics['seconds_tuning']:.1f} s)"
    )  # fmt: skip
    print(f"PSNR after projection {metrics['psnr_projection']:.2f} dB "
          f"({metrics['seconds_projection']:.1f} s){tuned}")  # fmt: skip
    written = [*paths.values(), *([args.json] if args.json is not None else [])]
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
