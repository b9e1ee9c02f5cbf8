"""`draggan-fast demo`: the main job on the bundled model, no arguments needed.

Generates face `--seed` with the default model, finds its landmarks with the bundled detector,
then runs two scripted drags: open the mouth (lower lip down, upper lip held) and turn the head
(nose and pupils to the side, chin held), with the model's recommended drag settings unless
--lr, --r1, --r2 say otherwise. Writes before.png, after.png and trajectory.gif, each with the
handles in red and the targets in blue, prints the time of every step, and says for each drag
whether it reached its targets ("target not reached (N px left ...)" when not).
"""

from __future__ import annotations

import time
from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import (
    MAX_SEED,
    MAX_STEPS,
    add_device_argument,
    add_drag_setting_arguments,
    drag_settings,
    int_in,
    option_error,
    pick_device,
)

NAME = "demo"
HELP = "scripted drags (open the mouth, turn the head) on the bundled model; PNGs and a GIF"

HANDLE_COLOR = (255, 40, 40)
TARGET_COLOR = (40, 90, 255)
MIN_OUTPUT_SIZE = 256  # images are upscaled (nearest) by an integer factor to at least this


def add_arguments(parser):
    parser.add_argument("--outdir", type=Path, default=Path("draggan-demo"), help="output folder")
    parser.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="face seed")
    parser.add_argument(
        "--steps", type=int_in(1, MAX_STEPS), default=200, help="most steps per drag"
    )
    parser.add_argument("--backend", default="fast", help="step backend")
    add_drag_setting_arguments(parser, names=("lr", "r1", "r2"))
    parser.add_argument("--model", type=Path, default=None, help="generator (default: bundled)")
    parser.add_argument("--detector", type=Path, default=None, help="detector (default: bundled)")
    add_device_argument(parser)


def scripted_drags(landmarks, resolution):
    """[(title, [(handle (x, y), target (x, y)), ...]), ...] from a face's landmarks.

    Offsets are fractions of the image size, so the script fits any resolution.
    """
    from draggan_fast.stylegan.dataset import LANDMARK_NAMES

    named = {name: tuple(map(float, point)) for name, point in zip(LANDMARK_NAMES, landmarks)}

    def moved(name, dx, dy):
        x, y = named[name]
        return (x + dx * resolution, y + dy * resolution)

    return [
        ("open the mouth", [
            (named["lower_lip"], moved("lower_lip", 0.0, 0.08)),
            (named["upper_lip"], named["upper_lip"]),
        ]),
        ("turn the head", [
            (named["nose_tip"], moved("nose_tip", 0.07, 0.0)),
            (named["left_pupil"], moved("left_pupil", 0.05, 0.0)),
            (named["right_pupil"], moved("right_pupil", 0.05, 0.0)),
            (named["chin"], named["chin"]),
        ]),
    ]  # fmt: skip


def _scaled(image, factor):
    from PIL import Image

    frame = Image.fromarray(image)
    return frame.resize((frame.width * factor, frame.height * factor), Image.NEAREST)


def marked(image, factor, handles, targets):
    """uint8 [H, W, 3] image upscaled by `factor`, with each handle (x, y) a red dot, its target
    a blue ring (a handle on its target shows inside it) and a white line between them."""
    from PIL import ImageDraw

    frame = _scaled(image, factor)
    draw = ImageDraw.Draw(frame)
    radius = max(2, factor)
    for handle, target in zip(handles, targets):
        (hx, hy), (tx, ty) = ((factor * (v + 0.5) for v in point) for point in (handle, target))
        draw.line([(hx, hy), (tx, ty)], fill=(255, 255, 255), width=1)
        draw.ellipse([hx - radius, hy - radius, hx + radius, hy + radius], fill=HANDLE_COLOR)
        ring = radius + 2
        draw.ellipse([tx - ring, ty - ring, tx + ring, ty + ring], outline=TARGET_COLOR, width=2)
    return frame


def _frame(result, factor):
    """A step's image, upscaled, with handles, targets and the lines between them."""
    return marked(result.image, factor, result.handles.tolist(), result.targets.tolist())


def outcome(title, result, steps) -> str:
    """One line on how a drag of `steps` steps ended: reached, or how far its farthest handle
    is left."""
    left = float(max(result.distances))
    if result.done:
        return f"{title}: every target reached in {steps} steps ({left:.2f} px left)"
    return f"{title}: target not reached ({left:.2f} px left after {steps} steps)"


def run(args) -> int:
    import numpy as np

    from draggan_fast.assets_registry import default_detector_path, default_model_path
    from draggan_fast.session import DragSession
    from draggan_fast.stylegan.landmarks import load_detector
    from draggan_fast.stylegan.loading import load_generator

    if args.steps < 1:
        raise CommandError(f"--steps must be >= 1, got {args.steps}")
    if args.outdir.exists() and not args.outdir.is_dir():
        raise CommandError(f"--outdir {args.outdir}: exists and is not a folder")
    device = pick_device(args.device)
    G = load_generator(args.model or default_model_path(), device=device)
    detector = load_detector(args.detector or default_detector_path())
    try:
        session = DragSession(
            G, seed=args.seed, backend=args.backend, device=device, **drag_settings(args)
        )
    except ValueError as exc:
        raise option_error(exc) from None
    print(f"model {G.img_resolution}x{G.img_resolution} on {device}; backend: {session.backend}")
    print(f"settings: {session.describe_settings()}")
    args.outdir.mkdir(parents=True, exist_ok=True)
    before = session.image()  # uint8 [H, W, 3]
    factor = max(1, -(-MIN_OUTPUT_SIZE // G.img_resolution))
    landmarks = detector.detect_image(before)  # [K, 2] (x, y)
    drags = scripted_drags(landmarks, G.img_resolution)
    start_handles = [handle for _, pairs in drags for handle, _ in pairs]
    targets = [target for _, pairs in drags for _, target in pairs]
    marked(before, factor, start_handles, targets).save(args.outdir / "before.png")

    frames, step_seconds, end_handles = [], [], []
    for title, pairs in drags:
        session.clear_points()
        for handle, target in pairs:
            session.add_point(handle, target)
        print(f"{title}: {len(pairs)} points")
        last = time.perf_counter()

        def on_step(result, title=title):
            nonlocal last
            result.materialize()  # a fast backend's step ends when its results reach the host
            step_seconds.append(time.perf_counter() - last)
            frames.append(_frame(result, factor))
            distance = float(np.max(result.distances))
            print(f"  {title} step {result.step:3d}: {step_seconds[-1] * 1000:7.1f} ms, "
                  f"largest distance {distance:5.2f} px")  # fmt: skip
            last = time.perf_counter()  # drawing the frame is not the step's time

        first_step = session.step_count
        result = session.run(max_steps=args.steps, callback=on_step, render_every=1)
        end_handles += session.handles.tolist()
        print(outcome(title, result, session.step_count - first_step))
    marked(session.image(), factor, end_handles, targets).save(args.outdir / "after.png")
    frames[0].save(
        args.outdir / "trajectory.gif", save_all=True, append_images=frames[1:], duration=60,
        loop=0,
    )  # fmt: skip
    mean_ms = 1000 * float(np.mean(step_seconds))
    print(f"{len(step_seconds)} steps, {mean_ms:.1f} ms per step (with an image each step); "
          f"wrote before.png, after.png, trajectory.gif in {args.outdir}")  # fmt: skip
    return 0
