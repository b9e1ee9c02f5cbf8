"""`draggan-fast drag`: run one drag headless and write the result (and optionally a GIF)."""

from __future__ import annotations

import time
from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import (
    add_device_argument,
    add_model_argument,
    check_output,
    image_suffixes,
    parse_points,
    pick_device,
)

NAME = "drag"
HELP = "drag handle points to targets on a generated image, without a window"

HANDLE_COLOR = (255, 40, 40)
TARGET_COLOR = (40, 90, 255)


def add_arguments(parser):
    add_model_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="image seed (default 0)")
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
    parser.add_argument("--steps", type=int, default=200, help="most steps to run (default 200)")
    parser.add_argument("--out", required=True, type=Path, help="final image (e.g. result.png)")
    parser.add_argument("--gif", type=Path, help="also write the trajectory as an animated GIF")
    parser.add_argument(
        "--gif-every",
        type=int,
        default=1,
        metavar="N",
        help="one GIF frame every N steps (default 1)",
    )
    parser.add_argument(
        "--save-session",
        type=Path,
        metavar="JSON",
        help="save the session (JSON + .npz beside it) to resume in Python",
    )
    parser.add_argument("--latent-space", choices=["w", "w+"], default="w+")
    parser.add_argument(
        "--optimized-layers",
        type=int,
        default=6,
        help="style vectors optimised (default 6; the rest stay fixed)",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--psi", type=float, default=0.7, help="truncation psi (default 0.7)")
    parser.add_argument("--r1", type=float, default=3, help="motion radius, 512-px units (3)")
    parser.add_argument("--r2", type=float, default=12, help="tracking radius, 512-px units (12)")
    parser.add_argument("--lambda-mask", type=float, default=20, help="mask weight (20)")
    parser.add_argument("--tracking", choices=["l2", "l1"], default="l2")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run all --steps even after every handle reached its target",
    )
    parser.add_argument("--backend", default="fast", help="step backend (default fast)")
    add_device_argument(parser)


def _check_arguments(args):
    if args.steps < 1:
        raise CommandError(f"--steps must be at least 1, got {args.steps}")
    if args.gif_every < 1:
        raise CommandError(f"--gif-every must be at least 1, got {args.gif_every}")
    check_output("--out", args.out, image_suffixes())
    if args.gif is not None:
        check_output("--gif", args.gif, {".gif"})
    if args.save_session is not None:
        check_output("--save-session", args.save_session, {".json"})
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
    """StepResult with an image -> PIL frame with handles (red), targets (blue) and arrows."""
    from PIL import Image, ImageDraw

    frame = Image.fromarray(result.image)
    draw = ImageDraw.Draw(frame)
    radius = max(1, frame.width // 128)
    for (hx, hy), (tx, ty) in zip(result.handles.tolist(), result.targets.tolist()):
        draw.line([(hx, hy), (tx, ty)], fill=(255, 255, 255), width=max(1, radius // 2))
        draw.ellipse([hx - radius, hy - radius, hx + radius, hy + radius], fill=HANDLE_COLOR)
        draw.ellipse([tx - radius, ty - radius, tx + radius, ty + radius], fill=TARGET_COLOR)
    return frame


def _progress_text(result) -> str:
    distances = " ".join(f"{distance:.1f}" for distance in result.distances.tolist())
    return f"distance px [{distances}] loss {result.losses['total']:.4f}"


def run(args) -> int:
    from PIL import Image
    from tqdm import tqdm

    from draggan_fast import DragSession, load_generator

    _check_arguments(args)
    pairs = parse_points(args.points)
    mask = _read_mask(args.mask) if args.mask is not None else None
    G = load_generator(args.model, device=pick_device(args.device))
    session = DragSession(
        G, seed=args.seed, truncation_psi=args.psi, latent_space=args.latent_space,
        n_optimized_layers=args.optimized_layers, lr=args.lr, r1=args.r1, r2=args.r2,
        lambda_mask=args.lambda_mask, tracking=args.tracking, backend=args.backend,
    )  # fmt: skip
    for index, (handle, target) in enumerate(pairs):
        try:
            session.add_point(handle, target)
        except ValueError as exc:
            raise CommandError(f"--points pair {index}: {exc}") from None
    if mask is not None:
        session.set_mask(mask)

    frames = []
    progress = tqdm(total=args.steps, unit="step", dynamic_ncols=True, leave=False)

    def on_step(result):
        progress.update(1)
        progress.set_postfix_str(_progress_text(result), refresh=False)
        if result.image is not None:
            frames.append(_frame(result))

    started = time.perf_counter()
    try:
        result = session.run(
            max_steps=args.steps, until_done=not args.keep_going, callback=on_step,
            render_every=args.gif_every if args.gif is not None else 0,
        )  # fmt: skip
    finally:
        progress.close()
    elapsed = time.perf_counter() - started

    final_image = Image.fromarray(session.image())  # after the last update
    final_image.save(args.out)
    if args.gif is not None:
        frames.append(final_image)
        frames[0].save(args.gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    if args.save_session is not None:
        session.save(args.save_session)

    state = "every handle reached its target" if result.done else "stopped at --steps"
    print(f"{result.step} steps ({state}), {1000 * elapsed / result.step:.1f} ms/step "
          f"on {session.device} with the {args.backend} backend")  # fmt: skip
    for index, (handle, target, distance) in enumerate(
        zip(result.handles.tolist(), result.targets.tolist(), result.distances.tolist())
    ):
        print(f"  point {index}: handle ({handle[0]:g}, {handle[1]:g}) -> target "
              f"({target[0]:g}, {target[1]:g}): {distance:.2f} px")  # fmt: skip
    print(f"wrote {args.out}" + "".join(
        f", {path}" for path in (args.gif, args.save_session) if path is not None
    ))  # fmt: skip
    return 0
