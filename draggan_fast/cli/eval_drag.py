"""`draggan-fast eval-drag`: drag accuracy on the default model, following the DragGAN paper.

The protocol of the paper's Table 1 (face landmark manipulation): for N seeded pairs of generated
images (A, B), detect the landmarks of both; drag 1, 5 or all landmarks of A onto B's (handles =
A's landmarks, targets = B's); detect the landmarks of the edited image and report the mean
distance to B's landmarks before and after editing, in pixels at the model's resolution, with the
steps taken and the time per edit, for each backend.
"""

from __future__ import annotations

import json
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
    parse_backends,
    pick_device,
)

NAME = "eval-drag"
HELP = "measure drag accuracy (paper's Table 1 protocol) on the default model"

MAX_PAIRS = 10_000

# which landmarks each "points" setting drags (dataset names; "all" = every landmark)
POINT_SETS = {
    "1": ("nose_tip",),
    "5": ("left_pupil", "right_pupil", "nose_tip", "mouth_left", "mouth_right"),
    "all": None,
}


def add_arguments(parser):
    parser.add_argument("--pairs", type=int_in(1, MAX_PAIRS), default=8, help="image pairs")
    parser.add_argument(
        "--first-seed",
        type=int_in(0, MAX_SEED + 1 - 2 * MAX_PAIRS),
        default=0,
        help="pair i uses seeds 2i, 2i+1",
    )
    parser.add_argument(
        "--steps", type=int_in(1, MAX_STEPS), default=200, help="most steps per edit"
    )
    parser.add_argument("--points", default="1,5,all", help="point sets: any of 1, 5, all")
    parser.add_argument(
        "--backend", "--backends", dest="backends", default=None,
        help="comma-separated backends (default: every backend)",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, default=None,
        help="generator (default: bundled); a StyleGAN2 of the faces the landmark detector was "
        "trained on: StyleGAN3 and StyleGAN-Human generators do not apply",
    )  # fmt: skip
    parser.add_argument("--detector", type=Path, default=None, help="detector (default: bundled)")
    add_drag_setting_arguments(parser, names=("lr", "r1", "r2"))
    parser.add_argument(
        "--psi", type=float, default=1.0,
        help="truncation psi (default: %(default)s; at 0.7 the 64 px faces are too alike to "
        "measure)",
    )  # fmt: skip
    add_device_argument(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")


def _parse(args):
    from draggan_fast.step.backend import backend_names

    point_sets = [name.strip() for name in args.points.split(",") if name.strip()]
    unknown = [name for name in point_sets if name not in POINT_SETS]
    if unknown or not point_sets:
        raise CommandError(f"--points: expected a list of 1, 5, all; got {args.points!r}")
    backends = (
        backend_names() if args.backends is None else parse_backends("--backend", args.backends)
    )
    if args.pairs < 1 or args.steps < 1 or args.first_seed < 0:
        raise CommandError("--pairs and --steps must be >= 1, --first-seed >= 0")
    return point_sets, backends


def evaluate_edit(G, detector, seeds, names, backend, steps, session_kwargs):
    """One edit: drag `names` landmarks of seeds[0]'s image onto seeds[1]'s; returns a dict."""
    import numpy as np

    from draggan_fast.session import DragSession
    from draggan_fast.stylegan.dataset import LANDMARK_NAMES

    chosen = [LANDMARK_NAMES.index(name) for name in names]
    source = DragSession(G, seed=seeds[0], backend=backend, **session_kwargs)
    target = DragSession(G, seed=seeds[1], backend=backend, **session_kwargs)
    handles = detector.detect_image(source.image())[chosen]  # [K, 2]
    targets = detector.detect_image(target.image())[chosen]
    for handle, goal in zip(handles, targets):
        source.add_point(tuple(map(float, handle)), tuple(map(float, goal)))
    started = time.perf_counter()
    result = source.run(max_steps=steps, render_every=0).materialize()  # the device's work too
    seconds = time.perf_counter() - started
    edited = detector.detect_image(source.image())[chosen]
    return {
        "before_px": float(np.linalg.norm(handles - targets, axis=1).mean()),
        "after_px": float(np.linalg.norm(edited - targets, axis=1).mean()),
        "steps": int(result.step),
        "seconds": seconds,
    }


def run(args) -> int:
    import numpy as np

    from draggan_fast.assets_registry import default_detector_path, default_model_path
    from draggan_fast.session import DragSession
    from draggan_fast.stylegan.dataset import LANDMARK_NAMES
    from draggan_fast.stylegan.landmarks import load_detector
    from draggan_fast.stylegan.loading import load_generator

    point_sets, backends = _parse(args)
    device = pick_device(args.device)
    G = load_generator(args.model or default_model_path(), device=device)
    if G.family != "stylegan2":
        raise CommandError(
            f"--model {args.model}: a {G.family} generator; eval-drag's landmark detector reads "
            "the bundled StyleGAN2's faces only"
        )
    detector = load_detector(args.detector or default_detector_path())
    session_kwargs = {"truncation_psi": args.psi, "device": device, **drag_settings(args)}
    settings = DragSession(G, **session_kwargs).describe_settings()
    print(f"settings: {settings}")
    rows = []
    for backend in backends:
        for point_set in point_sets:
            names = POINT_SETS[point_set] or LANDMARK_NAMES
            edits = []
            for pair in range(args.pairs):
                seeds = (args.first_seed + 2 * pair, args.first_seed + 2 * pair + 1)
                edits.append(
                    evaluate_edit(G, detector, seeds, names, backend, args.steps, session_kwargs)
                )
            row = {
                "backend": backend, "points": point_set, "pairs": args.pairs,
                **{key: float(np.mean([e[key] for e in edits]))
                   for key in ("before_px", "after_px", "steps", "seconds")},
            }  # fmt: skip
            rows.append(row)
            print(_format_row(row), flush=True)
    table = format_table(
        rows, G, device, f"truncation_psi {args.psi:g}, {settings}, at most {args.steps} steps"
    )
    print()
    print(table)
    if args.json is not None:
        document = {"rows": rows, "table": table, "device": device, "machine": _machine(device)}
        args.json.write_text(json.dumps(document, indent=1))
    return 0


def _machine(device: str) -> str:
    """What the times per edit were measured on: the GPU's name, or the CPU and its cores."""
    import torch

    from draggan_fast.bench.environment import cpu_model, usable_cpu_count

    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()}, {usable_cpu_count()} cores"


def _format_row(row):
    return (
        f"{row['backend']:>10} | {row['points']:>4} points | {row['before_px']:6.2f} px -> "
        f"{row['after_px']:6.2f} px | {row['steps']:6.1f} steps | {row['seconds']:6.2f} s/edit"
    )


def format_table(rows, G, device, settings):
    """A markdown table of the rows, with the model resolution and device in its caption."""
    lines = [
        f"Mean landmark distance to the targets, {G.img_resolution}x{G.img_resolution} px, "
        f"{rows[0]['pairs']} pairs, device {device}, {settings}:",
        "",
        "| backend | points | before (px) | after (px) | steps | time per edit (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['backend']} | {r['points']} | {r['before_px']:.2f} | {r['after_px']:.2f} | "
        f"{r['steps']:.1f} | {r['seconds']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines)
