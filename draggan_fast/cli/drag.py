"""`draggan-fast drag`: run one drag headless and write the result (optionally a GIF, an MP4).

`--session SESSION.json` continues a saved session instead of starting from a seed: one that
`draggan-fast invert` wrote (a real photo, on its tuned generator, which the session names) or
`--save-session` did. Its latent space, optimised layers, seed and points come from the file
(--points are added to its points; --seed, --psi, --latent-space and --optimized-layers cannot
be given); the step settings it saved stay unless given here (--lr, --r1, --r2, --lambda-mask,
--tracking). Its generator is the one it names, else --model, else the bundled model.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from draggan_fast.animation import MAX_FRAMES, BoundedFrames, mp4_available, write_gif, write_mp4
from draggan_fast.cli import CommandError
from draggan_fast.cli.args import (
    MAX_SEED,
    MAX_STEPS,
    add_device_argument,
    add_drag_setting_arguments,
    add_model_argument,
    finite_float,
    image_suffixes,
    int_in,
    model_path,
    option_error,
    parse_points,
    pick_device,
)
from draggan_fast.cli.outputs import StagedOutputs, check_output

NAME = "drag"
HELP = "drag handle points to targets on a generated image, without a window"

HANDLE_COLOR = (255, 40, 40)
TARGET_COLOR = (40, 90, 255)


def add_arguments(parser):
    add_model_argument(parser)
    parser.add_argument(
        "--session",
        type=Path,
        metavar="JSON",
        help="continue this saved session (e.g. from `draggan-fast invert`) instead of a seed",
    )
    parser.add_argument(
        "--seed", type=int_in(0, MAX_SEED), default=None, help="image seed (default: 0)"
    )
    parser.add_argument(
        "--points",
        required=True,
        metavar='"x,y->x,y; ..."',
        help="handle->target pairs in image pixels (x = column, y = row)",
    )
    parser.add_argument(
        "--mask",
        type=Path,
        metavar="PNG",
        help="movable-region mask, image-sized: white may change, black stays",
    )
    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=200, help="most steps to run")
    parser.add_argument(
        "--out", required=True, type=Path, help="final image (e.g. result.png; any PIL format)"
    )
    parser.add_argument("--gif", type=Path, help="also write the trajectory as an animated GIF")
    parser.add_argument(
        "--mp4", type=Path, help="also write the trajectory as an MP4 video (needs imageio-ffmpeg)"
    )
    parser.add_argument(
        "--gif-every",
        type=int_in(1, MAX_STEPS),
        default=1,
        metavar="N",
        help="render an animation frame every N steps",
    )
    parser.add_argument(
        "--max-frames",
        type=int_in(2, 100_000),
        default=MAX_FRAMES,
        metavar="N",
        help="most frames an animation keeps: past it every other frame is dropped and frames "
        "are taken half as often (a long drag stays whole at a lower frame rate)",
    )
    parser.add_argument(
        "--save-session",
        type=Path,
        metavar="JSON",
        help="save the session (JSON + .npz beside it) to resume in Python",
    )
    parser.add_argument(
        "--latent-space",
        choices=["w", "w+"],
        help="one style vector shared by all layers, w, or one per layer, w+ (default: w+)",
    )
    parser.add_argument(
        "--optimized-layers",
        type=int,
        help="style vectors optimised, the rest stay fixed (default: 6)",
    )
    add_drag_setting_arguments(parser)
    parser.add_argument("--psi", type=finite_float(), help="truncation psi (default: 0.7)")
    parser.add_argument(
        "--tracking",
        choices=["l2", "l1"],
        help="feature distance of point tracking: l2, the official choice, or l1 (default: l2)",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run all --steps even after every handle reached its target",
    )
    parser.add_argument("--backend", default="fast", help="step backend")
    add_device_argument(parser)


# Defaults of the options a --session run takes from its file: (attribute, option, default).
START_SETTINGS = (("seed", "--seed", 0), ("psi", "--psi", 0.7),
                  ("latent_space", "--latent-space", "w+"),
                  ("optimized_layers", "--optimized-layers", 6))  # fmt: skip
# lr, r1, r2, lambda_mask: None leaves them to the session (the model's recommended values).
STEP_SETTINGS = (("lr", "lr", None), ("r1", "r1", None), ("r2", "r2", None),
                 ("lambda_mask", "lambda_mask", None), ("tracking", "tracking", "l2"))  # fmt: skip


def _check_arguments(args):
    """Every input and output checked before the model loads: nothing runs for a bad one."""
    if args.session is not None:
        given = [option for name, option, _ in START_SETTINGS if getattr(args, name) is not None]
        if given:
            raise CommandError(f"{', '.join(given)}: fixed by --session {args.session}")
        if not args.session.is_file():
            raise CommandError(f"--session {args.session}: no such file")
    check_output("--out", args.out, image_suffixes(), kind="an image file")
    if args.gif is not None:
        check_output("--gif", args.gif, {".gif"})
    if args.mp4 is not None:
        check_output("--mp4", args.mp4, {".mp4"})
        missing = mp4_available()
        if missing is not None:
            raise CommandError(f"--mp4 {args.mp4}: {missing}")
    if args.save_session is not None:
        check_output("--save-session", args.save_session, {".json"})
        check_output("--save-session", args.save_session.with_suffix(".npz"))
        check_output("--save-session", args.save_session.with_suffix(".safetensors"))
    outputs = [args.out, args.gif, args.mp4, args.save_session]
    resolved = [path.resolve() for path in outputs if path is not None]
    if len(set(resolved)) < len(resolved):
        raise CommandError("--out, --gif, --mp4 and --save-session must be different files")
    if args.mask is not None and not args.mask.is_file():
        raise CommandError(f"--mask {args.mask}: no such file")


def _read_mask(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise CommandError(f"--mask {path}: not a readable image ({exc})") from None


def _frame(result):
    """StepResult with an image -> uint8 [H, W, 3] with handles (red), targets (blue), arrows."""
    import numpy as np
    from PIL import Image, ImageDraw

    frame = Image.fromarray(result.image)
    draw = ImageDraw.Draw(frame)
    radius = max(1, frame.width // 128)
    for (hx, hy), (tx, ty) in zip(result.handles.tolist(), result.targets.tolist()):
        draw.line([(hx, hy), (tx, ty)], fill=(255, 255, 255), width=max(1, radius // 2))
        draw.ellipse([hx - radius, hy - radius, hx + radius, hy + radius], fill=HANDLE_COLOR)
        draw.ellipse([tx - radius, ty - radius, tx + radius, ty + radius], fill=TARGET_COLOR)
    return np.asarray(frame)


def _progress_text(result) -> str:
    distances = " ".join(f"{distance:.1f}" for distance in result.distances.tolist())
    return f"distance px [{distances}] loss {result.losses['total']:.4f}"


def run(args) -> int:
    _check_arguments(args)
    pairs = parse_points(args.points)

    from tqdm import tqdm

    from draggan_fast import DragSession, load_generator

    mask = _read_mask(args.mask) if args.mask is not None else None
    device = pick_device(args.device)
    if args.session is not None:
        session = _continue_session(args, device)
    else:
        G = load_generator(model_path(args.model), device=device)
        start = {name: default if getattr(args, name) is None else getattr(args, name)
                 for name, _, default in START_SETTINGS + STEP_SETTINGS}  # fmt: skip
        try:
            session = DragSession(
                G, seed=start["seed"], truncation_psi=start["psi"],
                latent_space=start["latent_space"], n_optimized_layers=start["optimized_layers"],
                lr=start["lr"], r1=start["r1"], r2=start["r2"],
                lambda_mask=start["lambda_mask"], tracking=start["tracking"],
                backend=args.backend,
            )  # fmt: skip
        except ValueError as exc:
            raise option_error(exc) from None
    try:
        if mask is not None:
            session.set_mask(mask)
    except ValueError as exc:
        raise option_error(exc) from None
    for index, (handle, target) in enumerate(pairs):
        try:
            session.add_point(handle, target)
        except ValueError as exc:
            raise CommandError(f"--points pair {index}: {exc}") from None

    print(f"settings: {session.describe_settings()}")
    animated = args.gif is not None or args.mp4 is not None
    frames = BoundedFrames(args.max_frames)
    progress = tqdm(total=args.steps, unit="step", dynamic_ncols=True, leave=False)

    def on_step(result):
        progress.update(1)
        progress.set_postfix_str(_progress_text(result), refresh=False)
        if result.image is not None:  # drawn only when the buffer keeps it
            frames.add(_frame(result) if frames.takes_next() else None)

    started = time.perf_counter()
    try:
        result = session.run(
            max_steps=args.steps, until_done=not args.keep_going, callback=on_step,
            render_every=args.gif_every if animated else 0,
        )  # fmt: skip
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    _write_outputs(args, session, frames.frames)

    state = "every handle reached its target" if result.done else "stopped at --steps"
    print(f"{result.step} steps ({state}), {1000 * elapsed / result.step:.1f} ms/step "
          f"on {session.device} with the {args.backend} backend")  # fmt: skip
    for index, (handle, target, distance) in enumerate(
        zip(result.handles.tolist(), result.targets.tolist(), result.distances.tolist())
    ):
        print(f"  point {index}: handle ({handle[0]:g}, {handle[1]:g}) -> target "
              f"({target[0]:g}, {target[1]:g}): {distance:.2f} px")  # fmt: skip
    written = (args.out, args.gif, args.mp4, args.save_session)
    print("wrote " + ", ".join(str(path) for path in written if path is not None))
    return 0


def _names_generator(path: Path) -> bool:
    """Whether the session file at `path` names its own generator (unreadable files: False,
    `DragSession.load` then says what is wrong with them)."""
    import json

    try:
        return json.loads(path.read_text()).get("generator_file") is not None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, RecursionError):
        return False


def _continue_session(args, device):
    """The session of --session on its own generator, else --model's, else the bundled one;
    step settings given on the command line replace the saved ones."""
    from draggan_fast import DragSession, load_generator

    G = None
    if args.model is not None or not _names_generator(args.session):
        G = load_generator(model_path(args.model), device=device)
    try:
        session = DragSession.load(args.session, G, backend=args.backend, device=device)
    except (FileNotFoundError, ValueError) as exc:
        raise CommandError(f"--session {args.session}: {exc}") from None
    changes = {setting: getattr(args, name) for name, setting, _ in STEP_SETTINGS
               if getattr(args, name) is not None}  # fmt: skip
    try:
        session.configure(**changes)
    except ValueError as exc:
        raise option_error(exc) from None
    return session


def _write_outputs(args, session, frames):
    """Every output, each to a temporary file beside it, moved into place only when all are
    written: a failure leaves no file behind."""
    from PIL import Image

    final_image = session.image()  # uint8 [H, W, 3], after the last update
    frames = [*frames, final_image]
    with StagedOutputs() as staged:
        Image.fromarray(final_image).save(staged.path(args.out))
        if args.gif is not None:
            write_gif(frames, staged.path(args.gif))
        if args.mp4 is not None:
            write_mp4(frames, staged.path(args.mp4))
        if args.save_session is not None:
            # Saved under its final name (a photo's session names its .safetensors in the JSON),
            # in a private folder beside it; each file then waits with the other outputs.
            final = args.save_session
            with tempfile.TemporaryDirectory(prefix=".draggan-session-", dir=final.parent) as tmp:
                session.save(Path(tmp) / final.name)
                for written in sorted(Path(tmp).iterdir()):
                    os.replace(written, staged.path(final.with_name(written.name)))
