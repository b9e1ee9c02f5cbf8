"""Install a training run's outputs as the bundled default model and write its model card.

RUN_FOLDER holds what `scripts/gpu_train.sh` (or a `draggan-fast train --export` run) leaves:
generator.safetensors, checkpoint.json, log.jsonl, samples-latest.png and optionally
detector.safetensors. `install` checks them (load, size limits) and copies them to the places a
`BundledFiles` names; `write_card` writes the card from their numbers (and eval-drag's JSON if
given). The caller says where the files go: `python -m draggan_fast.install_default_model`.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from draggan_fast.stylegan.dataset import LANDMARK_NAMES


@dataclass(frozen=True)
class BundledFiles:
    """Where the default model's files live; the card names each relative to `root`."""

    root: Path  # the repository root
    model: Path  # the generator (safetensors)
    detector: Path  # the landmark detector
    card: Path  # the model card (markdown)
    samples: Path  # the sample grid the card shows

    def shown(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


MAX_MODEL_BYTES = 10 * 1024 * 1024
MAX_DETECTOR_BYTES = 2 * 1024 * 1024


def _check_size(path, limit):
    size = path.stat().st_size
    if size > limit:
        raise ValueError(
            f"{path}: {size / 2**20:.1f} MiB is over the {limit / 2**20:.0f} MiB limit"
        )
    return size


def write_drag_settings(source: Path, destination: Path, drag_settings: dict):
    """Copy model file `source` to `destination` with `drag_settings` (the drag settings
    recommended for it) in its header metadata; the weights stay byte-identical. The file is
    checked (it must load, settings included) before it replaces `destination`."""
    from draggan_fast.stylegan.loading import load_generator
    from draggan_fast.stylegan.native_format import with_drag_settings

    data = with_drag_settings(source.read_bytes(), drag_settings, str(source))
    staged = destination.with_name(destination.name + ".partial")
    staged.write_bytes(data)
    try:
        load_generator(staged)
        os.replace(staged, destination)
    finally:
        staged.unlink(missing_ok=True)


def install(run_folder: Path, files: BundledFiles, drag_settings: dict):
    """Copy the run's generator (with `drag_settings` in its metadata), detector and sample grid
    to where `files` says."""
    from draggan_fast.stylegan.landmarks import load_detector
    from draggan_fast.stylegan.loading import load_generator

    generator = run_folder / "generator.safetensors"
    _check_size(generator, MAX_MODEL_BYTES)
    load_generator(generator)  # refuses a broken file before it replaces the bundled one
    files.model.parent.mkdir(parents=True, exist_ok=True)
    write_drag_settings(generator, files.model, drag_settings)
    detector = run_folder / "detector.safetensors"
    if detector.is_file():
        _check_size(detector, MAX_DETECTOR_BYTES)
        load_detector(detector)
        shutil.copyfile(detector, files.detector)
    shutil.copyfile(run_folder / "samples-latest.png", files.samples)


def _trained(meta) -> str:
    """How much training the run's checkpoint records, and where; a run continued from an
    earlier run's exported generator (`started_from`) says which part was this run's."""
    hours = meta["train_seconds"] / 3600
    device = meta.get("device", "an unrecorded device")
    total = f"{meta['kimg']:.0f} kimg (images shown to D)"
    origin = meta.get("started_from")
    if not origin:
        return f"{total} in {hours:.2f} h of training steps on {device}"
    return (
        f"{total}: the first {origin['kimg']:.0f} kimg by an earlier run (its exported "
        f"generator{' ' + origin['generator'] if origin.get('generator') else ''}), then "
        f"{meta['kimg'] - origin['kimg']:.0f} kimg continued from it in {hours:.2f} h of "
        f"training steps on {device}, with a fresh D"
    )


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


def eval_notes(evaluation: dict) -> str:
    """How to read eval-drag's table; the machine its times come from is the one its JSON
    records (older files record none, and the notes then name none)."""
    machine = evaluation.get("machine")
    run = f"one run on {machine}" if machine else "one run"
    return (
        "Handles are the landmarks of image A (seed 2i), targets those of image B (seed 2i+1), "
        'both found by the bundled detector; "after" is the detector\'s distance on the edited '
        "image. 1 point is the nose tip; 5 are the pupils, nose tip and mouth corners; all is the "
        f"{len(LANDMARK_NAMES)} landmarks. The stop distance is 2 px, so an edit ends within "
        f"about 2 px of its targets by design. Times per edit come from {run}: they "
        "depend on the machine and its load and compare nothing; use `draggan-fast bench` for "
        "speed."
    )


def drag_settings_section(drag_settings: dict | None) -> list[str]:
    """The card's lines on the drag settings the model file recommends (its metadata)."""
    from draggan_fast.stylegan.native_format import DRAG_SETTING_LIMITS

    given = drag_settings or {}
    settings = ", ".join(f"{name} {given[name]:g}" for name in DRAG_SETTING_LIMITS if name in given)
    return [
        "## Drag settings",
        "",
        f"The model file recommends {settings or 'none (the official defaults apply)'} (its "
        "`drag_settings` metadata): `DragSession`, `drag`, `demo`, `eval-drag` and the viewer "
        "use them for every setting left unset, and say which apply. The official lr 1e-3 and "
        "lambda_mask 20 are tuned for 512 px models: on this 64 px model a 7 px drag "
        '(`draggan-fast drag --points "32,41->32,48"`, seeds 0-2) still had 2-4 px to go after '
        "200 steps, 6 px with the lower half of the image masked; with lr 5e-3 and lambda_mask "
        "1 it reaches its target in 41-57 steps, masked or not.",
    ]


QUALITY_HEADING = "## Image quality (`draggan-fast eval-model`)"
DRAG_ACCURACY_HEADING = "## Drag accuracy (`draggan-fast eval-drag`)"
# the sections write_card makes (an old card's others are hand-written and kept)
OWNED_HEADINGS = {
    "## Data", "## Training", "## Landmark detector", "## Drag settings", QUALITY_HEADING,
    DRAG_ACCURACY_HEADING, "## Reproduce",
}  # fmt: skip


def quality_section(quality_json: Path) -> list[str]:
    """The card's lines on `draggan-fast eval-model`'s figures (its --json file)."""
    document = json.loads(quality_json.read_text())
    return [
        QUALITY_HEADING,
        "",
        document["table"],
        "",
        "Landmark Fréchet distance: between the distributions of the 17 landmarks the bundled "
        "detector finds (the faces' layouts). Feature Fréchet distance: the same on the "
        "detector's pooled features (an FID-like figure; the detector was trained with mild "
        "blur, so it looks past blur). Flip disagreement: how far the detector's answers on a "
        "face and on its mirror image (mirrored back) lie apart; a malformed face lets it "
        "disagree with itself. Sharpness: the mean squared Laplacian of the grey image. The "
        "real faces' column is the floor each figure reaches between two sets of real faces.",
    ]


def _kept_sections(card: Path, owned: set[str]) -> list[str]:
    """The `## ` sections of an existing card whose headings this writer does not make
    (hand-written ones, e.g. measurements of other commands), each as one string."""
    if not card.is_file():
        return []
    sections, current = [], None
    for line in card.read_text().splitlines():
        if line.startswith("## "):
            current = None if line in owned else [line]
            if current is not None:
                sections.append(current)
        elif current is not None:
            current.append(line)
    return ["\n".join(section).rstrip() for section in sections]


def write_card(
    run_folder: Path, files: BundledFiles, eval_json: Path | None = None, notes="",
    quality_json: Path | None = None,
):  # fmt: skip
    """Write the card for the bundled files (already installed) and the run that made them.

    Sections of the existing card that this writer does not make are kept (before Reproduce).
    """
    from draggan_fast.stylegan.landmarks import detector_info, load_detector
    from draggan_fast.stylegan.loading import load_generator

    meta = json.loads((run_folder / "checkpoint.json").read_text())
    G = load_generator(files.model)
    model_bytes = files.model.stat().st_size
    info = detector_info(files.detector)
    detector_params = sum(p.numel() for p in load_detector(files.detector).parameters())
    samples_link = Path(os.path.relpath(files.samples, files.card.parent)).as_posix()
    lines = [
        "# The default model: cartoon faces, 64x64",
        "",
        f"`{files.shown(files.model)}` is a StyleGAN2 (config-f generator, "
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
        f"![samples: seeds 0-63, psi 1]({samples_link})",
        "",
        "## Training",
        "",
        f"{_trained(meta)}; non-saturating logistic loss, lazy R1, "
        "EMA generator, no path-length regulariser. The file holds the EMA generator in the "
        f"package's safetensors format: {sum(p.numel() for p in G.parameters()) / 1e6:.2f} M "
        f"parameters, {model_bytes / 2**20:.1f} MiB.",
        *(["", notes] if notes else []),
        "",
        *_config_table(meta),
        "",
        "## Landmark detector",
        "",
        f"`{files.shown(files.detector)}` (`draggan_fast.stylegan.landmarks`): a "
        f"{detector_params / 1e3:.0f} k-parameter fully convolutional net, one heatmap per "
        "landmark at 1/4 resolution and a soft-argmax, trained on renders with mild blur and "
        f"noise ({info.get('train_steps')} steps of {info.get('train_batch')} on "
        f"{info.get('train_device', 'cpu')}). Held-out error on {info.get('held_out_count')} "
        f"faces of dataset seed {info.get('held_out_seed')} (never trained on): mean "
        f"{info.get('held_out_mean_px', float('nan')):.2f} px, 95th percentile "
        f"{info.get('held_out_p95_px', float('nan')):.2f} px at 64x64.",
    ]
    lines += ["", *drag_settings_section(G.drag_settings)]
    if quality_json is not None:
        lines += ["", *quality_section(quality_json)]
    if eval_json is not None:
        evaluation = json.loads(eval_json.read_text())
        lines += ["", DRAG_ACCURACY_HEADING, "",
                  evaluation["table"], "", eval_notes(evaluation)]  # fmt: skip
    for section in _kept_sections(files.card, OWNED_HEADINGS):
        lines += ["", section]
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
        "draggan-fast eval-model --json runs/default64/quality.json",
        "python -m draggan_fast.install_default_model runs/default64 \\",
        "    --eval-json runs/default64/eval.json --quality-json runs/default64/quality.json",
        "```",
        "",
    ]  # fmt: skip
    files.card.write_text("\n".join(lines))
