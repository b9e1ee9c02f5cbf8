"""`draggan-fast eval-model`: how close a face generator's images are to the procedural data.

Landmark and feature Fréchet distances, the landmark detector's flip disagreement and a sharpness
figure, for each --model against the same real faces (`stylegan.training.quality`).
"""

import json
from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import add_device_argument, int_in, pick_device

NAME = "eval-model"
HELP = "measure a face generator's image quality against the procedural data"


def add_arguments(parser):
    parser.add_argument(
        "--model", type=Path, action="append", default=None, metavar="PATH",
        help="generator to measure; repeat to compare several (default: the bundled model)",
    )  # fmt: skip
    parser.add_argument("--detector", type=Path, default=None, help="detector (default: bundled)")
    parser.add_argument(
        "--count", type=int_in(50, 100_000), default=1000,
        help="faces per set (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--psi", type=float, default=1.0, help="truncation psi (default: 1)")
    parser.add_argument(
        "--data-seed", type=int_in(0, 2**31 - 1), default=2002,
        help="dataset seed of the real faces (default: %(default)s, never trained on)",
    )  # fmt: skip
    add_device_argument(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")


def run(args) -> int:
    import torch

    from draggan_fast.assets_registry import default_detector_path, default_model_path
    from draggan_fast.stylegan.landmarks import load_detector
    from draggan_fast.stylegan.loading import load_generator
    from draggan_fast.stylegan.training.quality import format_quality_table, measure_quality

    device = pick_device(args.device)
    detector = load_detector(args.detector or default_detector_path(), device=device)
    results = {}
    for path in args.model or [default_model_path()]:
        G = load_generator(path, device=device)
        if G.family != "stylegan2" or G.img_resolution != detector.input_size:
            raise CommandError(
                f"--model {path}: a {G.family} generator at {G.img_resolution} px; the detector "
                f"reads the procedural faces at {detector.input_size} px"
            )
        label = Path(path).name
        if label in results:
            label = str(path)
        with torch.no_grad():
            results[label] = measure_quality(G, detector, args.count, args.psi, args.data_seed)
        print(f"{label}: {json.dumps(results[label])}", flush=True)
    table = format_quality_table(results)
    print()
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps({"results": results, "table": table}, indent=1))
    return 0
