"""Install a training run's outputs as the bundled default model and write its model card.

    python -m draggan_fast.stylegan.training.model_card RUN_FOLDER [--eval-json EVAL.json]

RUN_FOLDER holds what `scripts/gpu_train.sh` (or a `draggan-fast train --export` run) leaves:
generator.safetensors, checkpoint.json, log.jsonl, samples-latest.png and optionally
detector.safetensors. They are checked (load, size limits), copied to draggan_fast/assets/ and
docs/, and docs/default-model.md is rewritten from their numbers (and eval-drag's JSON if given).
"""

import argparse
import json
import shutil
from pathlib import Path

from draggan_fast.assets_registry import ASSETS, DEFAULT_DETECTOR, DEFAULT_MODEL
from draggan_fast.stylegan.dataset import LANDMARK_NAMES

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CARD = DOCS / "default-model.md"
SAMPLES = "default-model-samples.png"
EVAL_NOTES = (
    "Handles are the landmarks of image A (seed 2i), targets those of image B (seed 2i+1), both "
    'found by the bundled detector; "after" is the detector\'s distance on the edited image. '
    "1 point is the nose tip; 5 are the pupils, nose tip and mouth corners; all is the "
    f"{len(LANDMARK_NAMES)} landmarks. The stop distance is 2 px, so an edit ends within about "
    "2 px of its targets by design. Times per edit come from 2 CPU cores shared with other jobs "
    "while this ran: they vary run to run by several times and compare nothing; use "
    "`draggan-fast bench` for speed."
)
MAX_MODEL_BYTES = 10 * 1024 * 1024
MAX_DETECTOR_BYTES = 2 * 1024 * 1024


def _check_size(path, limit):
    size = path.stat().st_size
    if size > limit:
        raise ValueError(
            f"{path}: {size / 2**20:.1f} MiB is over the {limit / 2**20:.0f} MiB limit"
        )
    return size


def install(run_folder: Path):
    """Copy the run's generator, detector and sample grid into the package and docs."""
    from draggan_fast.stylegan.landmarks import load_detector
    from draggan_fast.stylegan.loading import load_generator

    generator = run_folder / "generator.safetensors"
    _check_size(generator, MAX_MODEL_BYTES)
    load_generator(generator)  # refuses a broken file before it replaces the bundled one
    ASSETS.mkdir(exist_ok=True)
    shutil.copyfile(generator, ASSETS / DEFAULT_MODEL)
    detector = run_folder / "detector.safetensors"
    if detector.is_file():
        _check_size(detector, MAX_DETECTOR_BYTES)
        load_detector(detector)
        shutil.copyfile(detector, ASSETS / DEFAULT_DETECTOR)
    shutil.copyfile(run_folder / "samples-latest.png", DOCS / SAMPLES)


def _config_table(meta):
    config = meta["config"]
    rows = [
        ("resolution", f"{config['resolution']}x{config['resolution']} RGB"),
        ("z_dim / w_dim / mapping layers",
         f"{config['z_dim']} / {config['w_dim']} / {config['mapping_layers']}"),
        ("channels", f"min({config['channel_base']} / res, {config['channel_max']})"),
        ("batch", config["batch_size"]),
        ("Adam lr (G, D), betas", f"{config['g_lr']}, {config['d_lr']}; (0, 0.99)"),
        ("R1 gamma, lazy interval", f"{config['r1_gamma']}, every {config['r1_interval']}"),
        ("EMA half-life", f"{config['ema_kimg']} kimg (ramp-up {config['ema_rampup']})"),
        ("style mixing", config["style_mixing"]),
        ("float16 resolutions (CUDA only)", config["num_fp16_res"]),
        ("seeds (weights, data)", f"{config['seed']}, {config['data_seed']}"),
    ]  # fmt: skip
    return ["| setting | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]


def write_card(run_folder: Path, eval_json: Path | None = None, notes: str = ""):
    from draggan_fast.stylegan.landmarks import detector_info, load_detector
    from draggan_fast.stylegan.loading import load_generator

    meta = json.loads((run_folder / "checkpoint.json").read_text())
    G = load_generator(ASSETS / DEFAULT_MODEL)
    model_bytes = (ASSETS / DEFAULT_MODEL).stat().st_size
    detector_path = ASSETS / DEFAULT_DETECTOR
    info = detector_info(detector_path)
    detector_params = sum(p.numel() for p in load_detector(detector_path).parameters())
    hours = meta["train_seconds"] / 3600
    lines = [
        "# The default model: cartoon faces, 64x64",
        "",
        "`draggan_fast/assets/default_model.safetensors` is a StyleGAN2 (config-f generator, "
        "residual discriminator) trained by this project with `draggan-fast train` on its own "
        "procedural data, so that `draggan-fast demo` and `draggan-fast eval-drag` work offline. "
        "`draggan_fast.assets_registry.default_model_path()` returns its path.",
        "",
        "## Data",
        "",
        "Procedural cartoon faces (`draggan_fast.stylegan.dataset`), rendered with Pillow at 4x "
        "and box-filtered down; face `i` of dataset seed `s` is the same on every machine. Head "
        "position, scale, roll, yaw and pitch; eye size, opening and gaze; brow height and tilt; "
        "mouth width, opening and smile; ears, hair volume and fringe; skin, hair, iris, mouth, "
        "brow and background colours all vary. Each face has "
        f"{len(LANDMARK_NAMES)} named landmarks ({', '.join(LANDMARK_NAMES)}); tests check that "
        "each lies on the part it names.",
        "",
        f"![samples: seeds 0-63, psi 1]({SAMPLES})",
        "",
        "## Training",
        "",
        f"{meta['kimg']:.0f} kimg (images shown to D) in {hours:.2f} h of training steps on "
        f"{meta.get('device', 'an unrecorded device')}; non-saturating logistic loss, lazy R1, "
        "EMA generator, no path-length regulariser. The file holds the EMA generator in the "
        f"package's safetensors format: {sum(p.numel() for p in G.parameters()) / 1e6:.2f} M "
        f"parameters, {model_bytes / 2**20:.1f} MiB.",
        *(["", notes] if notes else []),
        "",
        *_config_table(meta),
        "",
        "## Landmark detector",
        "",
        f"`draggan_fast/assets/{DEFAULT_DETECTOR}` (`draggan_fast.stylegan.landmarks`): a "
        f"{detector_params / 1e3:.0f} k-parameter fully convolutional net, one heatmap per "
        "landmark at 1/4 resolution and a soft-argmax, trained on renders with mild blur and "
        f"noise ({info.get('train_steps')} steps of {info.get('train_batch')} on "
        f"{info.get('train_device', 'cpu')}). Held-out error on {info.get('held_out_count')} "
        f"faces of dataset seed {info.get('held_out_seed')} (never trained on): mean "
        f"{info.get('held_out_mean_px', float('nan')):.2f} px, 95th percentile "
        f"{info.get('held_out_p95_px', float('nan')):.2f} px at 64x64.",
    ]
    if eval_json is not None:
        lines += ["", "## Drag accuracy (`draggan-fast eval-drag`)", "",
                  json.loads(eval_json.read_text())["table"], "", EVAL_NOTES]  # fmt: skip
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "scripts/gpu_train.sh MINUTES            # on a CUDA machine; or, slowly, on the CPU:",
        "draggan-fast train --outdir runs/default64 --kimg 200 \\",
        "    --export runs/default64/generator.safetensors",
        "python -m draggan_fast.stylegan.landmarks_train --out runs/default64/detector.safetensors",
        "draggan-fast eval-drag --json runs/default64/eval.json",
        "python -m draggan_fast.stylegan.training.model_card runs/default64 \\",
        "    --eval-json runs/default64/eval.json",
        "```",
        "",
    ]  # fmt: skip
    CARD.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--eval-json", type=Path, default=None)
    parser.add_argument("--card-only", action="store_true", help="keep the bundled files")
    parser.add_argument("--notes", default="", help="a paragraph added to the Training section")
    args = parser.parse_args(argv)
    if not args.card_only:
        install(args.run_folder)
    write_card(args.run_folder, args.eval_json, args.notes)
    print(f"wrote {CARD}")


if __name__ == "__main__":
    main()
