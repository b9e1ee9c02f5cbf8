"""`draggan-fast eval-invert`: inversion quality on held-out procedural faces, and dragging them.

Faces 0..N-1 of dataset seed EVAL_DATASET_SEED (3003), never trained on: the bundled generator
trained on dataset seed 0 (docs/default-model.md), the landmark detector on 1001, and its
held-out check used 2002. Each face is inverted with `invert`'s defaults (or the options given);
the table reports mean PSNR after projection and after tuning and seconds per face.

Drag accuracy then follows `eval-drag`'s protocol (the paper's Table 1) on inverted faces: pair i
is faces (2i, 2i+1); handles are the detector's landmarks on face 2i's reconstruction, targets
its landmarks on photo 2i+1; the drag runs on face 2i's tuned generator from its inverted latent.
The same number of GAN-made pairs runs through `eval_drag.evaluate_edit` unchanged, so the two
rows compare like with like.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import add_device_argument, parse_backends, pick_device
from draggan_fast.cli.eval_drag import POINT_SETS, _machine, evaluate_edit
from draggan_fast.cli.outputs import check_output

NAME = "eval-invert"
HELP = "measure inversion PSNR, time and drag accuracy on held-out procedural faces"

EVAL_DATASET_SEED = 3003  # not 0 (generator training), 1001 or 2002 (landmark detector)


def add_arguments(parser):
    parser.add_argument("--faces", type=int, default=20, help="held-out faces")
    parser.add_argument(
        "--dataset-seed",
        type=int,
        default=EVAL_DATASET_SEED,
        help="face dataset seed (the default was never trained on)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="projection steps (default: invert's)"
    )
    parser.add_argument("--tuning-steps", type=int, default=None,
                        help="tuning steps (default: invert's)")  # fmt: skip
    parser.add_argument("--latent-space", choices=["w", "w+"], default="w+",
                        help="projected latent: one w, or one per style input")  # fmt: skip
    parser.add_argument(
        "--drag-pairs",
        type=int,
        default=None,
        help="pairs dragged per kind (default: faces // 2; 0 skips dragging)",
    )
    parser.add_argument("--drag-steps", type=int, default=100, help="most steps per edit")
    parser.add_argument("--points", default="5", help="eval-drag point sets: 1, 5, all")
    parser.add_argument("--backend", default="reference", help="drag backend")
    parser.add_argument("--lr", type=float, default=3e-3, help="drag Adam lr (as eval-drag)")
    parser.add_argument("--model", type=Path, default=None, help="generator (default: bundled)")
    parser.add_argument("--detector", type=Path, default=None, help="detector (default: bundled)")
    add_device_argument(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")


def _check(args):
    point_sets = [name.strip() for name in args.points.split(",") if name.strip()]
    if not point_sets or any(name not in POINT_SETS for name in point_sets):
        raise CommandError(f"--points: expected a list of 1, 5, all; got {args.points!r}")
    pairs = args.faces // 2 if args.drag_pairs is None else args.drag_pairs
    if args.faces < 1 or pairs < 0 or 2 * pairs > args.faces or args.dataset_seed < 0:
        raise CommandError("--faces must be >= 1, --drag-pairs in [0, faces // 2], "
                           "--dataset-seed >= 0")  # fmt: skip
    if args.drag_steps < 1 or not args.lr > 0:
        raise CommandError("--drag-steps must be >= 1 and --lr > 0")
    if args.json is not None:
        check_output("--json", args.json, {".json"})
    return point_sets, pairs, parse_backends("--backend", args.backend)[0]


def _invert_faces(G, args, device):
    from draggan_fast import invert
    from draggan_fast.stylegan.dataset import FaceDataset

    dataset = FaceDataset(G.img_resolution, args.dataset_seed)
    options = {"latent_space": args.latent_space, "device": device}
    for name in ("steps", "tuning_steps"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    faces = []
    for index in range(args.faces):
        photo, _landmarks = dataset.render(index)
        inversion = invert(G, photo, **options)
        faces.append((photo, inversion))
        m = inversion.metrics
        print(f"face {index:3d}: {m['psnr_projection']:6.2f} dB projected "
              f"({m['seconds_projection']:5.1f} s), {m['psnr_tuned'] or float('nan'):6.2f} dB "
              f"tuned ({m['seconds_tuning']:5.1f} s)", flush=True)  # fmt: skip
    return faces


def inverted_edit(inversion, target_photo, detector, chosen, backend, steps, session_kwargs):
    """eval-drag's edit on an inverted face: drag the `chosen` landmarks of the reconstruction
    onto those of `target_photo`; same measurements as `eval_drag.evaluate_edit`."""
    import numpy as np

    from draggan_fast import DragSession

    session = DragSession(inversion.generator, w=inversion.w, backend=backend, **session_kwargs)
    handles = detector.detect_image(session.image())[chosen]  # [K, 2]
    targets = detector.detect_image(target_photo)[chosen]
    for handle, goal in zip(handles, targets):
        session.add_point(tuple(map(float, handle)), tuple(map(float, goal)))
    started = time.perf_counter()
    result = session.run(max_steps=steps, render_every=0).materialize()
    seconds = time.perf_counter() - started
    edited = detector.detect_image(session.image())[chosen]
    return {
        "before_px": float(np.linalg.norm(handles - targets, axis=1).mean()),
        "after_px": float(np.linalg.norm(edited - targets, axis=1).mean()),
        "steps": int(result.step), "seconds": seconds,
    }  # fmt: skip


def _drag_rows(G, faces, args, point_sets, pairs, backend, device):
    import numpy as np

    from draggan_fast.assets_registry import default_detector_path
    from draggan_fast.stylegan.dataset import LANDMARK_NAMES
    from draggan_fast.stylegan.landmarks import load_detector

    detector = load_detector(args.detector or default_detector_path())
    session_kwargs = {"truncation_psi": 1.0, "device": device, "lr": args.lr}
    rows = []
    for point_set in point_sets:
        names = POINT_SETS[point_set] or LANDMARK_NAMES
        chosen = [LANDMARK_NAMES.index(name) for name in names]
        edits = {
            "inverted": [inverted_edit(faces[2 * i][1], faces[2 * i + 1][0], detector, chosen,
                                       backend, args.drag_steps, session_kwargs)
                         for i in range(pairs)],
            "gan": [evaluate_edit(G, detector, (2 * i, 2 * i + 1), names, backend,
                                  args.drag_steps, session_kwargs) for i in range(pairs)],
        }  # fmt: skip
        for kind, results in edits.items():
            row = {"faces": kind, "points": point_set, "pairs": pairs, **{
                key: float(np.mean([e[key] for e in results]))
                for key in ("before_px", "after_px", "steps", "seconds")}}  # fmt: skip
            rows.append(row)
            print(f"{kind:>9} | {point_set:>4} points | {row['before_px']:6.2f} px -> "
                  f"{row['after_px']:6.2f} px | {row['steps']:6.1f} steps", flush=True)  # fmt: skip
    return rows


def summarise(faces) -> dict:
    """Means over the faces' metrics, and the per-face metrics."""
    import numpy as np

    metrics = [inversion.metrics for _photo, inversion in faces]
    tuned = [m["psnr_tuned"] for m in metrics if m["psnr_tuned"] is not None]
    seconds = [m["seconds_projection"] + m["seconds_tuning"] for m in metrics]
    return {
        "faces": len(faces),
        "psnr_projection": float(np.mean([m["psnr_projection"] for m in metrics])),
        "psnr_tuned": float(np.mean(tuned)) if tuned else None,
        "seconds_per_face": float(np.mean(seconds)),
        "settings": {key: metrics[0][key] for key in (
            "latent_space", "steps", "tuning_steps", "perceptual")},
        "per_face": metrics,
    }  # fmt: skip


def run(args) -> int:
    from draggan_fast.assets_registry import default_model_path
    from draggan_fast.stylegan.loading import load_generator

    point_sets, pairs, backend = _check(args)
    device = pick_device(args.device)
    G = load_generator(args.model or default_model_path(), device=device)
    faces = _invert_faces(G, args, device)
    summary = summarise(faces)
    rows = _drag_rows(G, faces, args, point_sets, pairs, backend, device) if pairs else []
    tuned = summary["psnr_tuned"]
    table = (
        f"Inversion of {summary['faces']} held-out faces (dataset seed {args.dataset_seed}), "
        f"{G.img_resolution} px, {summary['settings']}: mean PSNR {summary['psnr_projection']:.2f}"
        f" dB after projection, {'-' if tuned is None else f'{tuned:.2f}'} dB after tuning, "
        f"{summary['seconds_per_face']:.1f} s per face on {_machine(device)}"
    )
    print()
    print(table)
    if args.json is not None:
        document = {"inversion": summary, "drag": rows, "dataset_seed": args.dataset_seed,
                    "device": device, "machine": _machine(device), "table": table}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=1))
    return 0
