"""A whole training run: resume or start, train to a kimg or time budget, checkpoint, sample.

Files in `outdir`: `checkpoint.safetensors` + `checkpoint.json` (the latest state, rewritten every
`checkpoint_minutes` and at the end), `samples-<kimg>.png` (G_ema on seeds 0..63), `reals.png`,
`log.jsonl` (one record per checkpoint). (`draggan-fast train --export` writes the EMA generator
afterwards, with `export.export_generator`.)
SIGTERM and SIGINT end the run after the current iteration with a final checkpoint.
"""

import dataclasses
import signal
import time
from pathlib import Path

import torch

from draggan_fast.stylegan.training.loop import TrainConfig, Trainer, architecture_of
from draggan_fast.stylegan.training.report import (
    ProgressBar,
    append_log,
    sample_latents,
    save_grid,
    save_sample_grid,
)

CHECKPOINT_STEM = "checkpoint"


@dataclasses.dataclass
class RunOptions:
    outdir: Path
    total_kimg: float = 200.0
    minutes: float | None = None  # wall-clock budget of this invocation
    checkpoint_minutes: float = 5.0
    sample_kimg: float = 10.0
    resume: Path | None = None  # a checkpoint to start from when outdir has none of its own
    # with neither checkpoint: G and G_ema start as this generator file, D fresh
    init_generator: Path | None = None
    init_kimg: float = 0.0  # kimg that generator was trained for (continues the counters)
    device: str = "cpu"
    data_pool: int = 0  # faces pre-rendered and kept on the device; 0 = render on the fly
    data_processes: int | None = None  # processes that render the pool (default: all CPUs)
    overrides: dict = dataclasses.field(default_factory=dict)  # hyper-parameters set explicitly
    progress_interval_s: float = 10.0


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop checks it between iterations."""

    def __init__(self):
        self.stop = False
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def open_trainer(options: RunOptions, config: TrainConfig):
    """Resume from the outdir's checkpoint, else `options.resume`, else start G from
    `options.init_generator`, else start fresh.

    A fresh run uses `config`; a resumed one keeps its checkpoint's config except for the
    hyper-parameters named in `options.overrides`; one started from a generator takes that
    generator's architecture (an architecture override that differs is a ValueError).
    """
    own = Path(options.outdir) / f"{CHECKPOINT_STEM}.json"
    source = own if own.is_file() else options.resume
    if source is not None:
        trainer = Trainer.resume(
            source, options.device, options.data_pool, options.data_processes, options.overrides
        )
        return trainer, source
    if options.init_generator is not None:
        from draggan_fast.stylegan.loading import load_generator

        generator = load_generator(options.init_generator)
        architecture = architecture_of(generator)
        for name, value in architecture.items():
            if name in options.overrides and options.overrides[name] != value:
                raise ValueError(
                    f"{name} {options.overrides[name]} differs from {options.init_generator}'s "
                    f"{value}"
                )
        trainer = Trainer.from_generator(
            generator, dataclasses.replace(config, **architecture), options.device,
            options.data_pool, options.data_processes, options.init_kimg,
            Path(options.init_generator).name,
        )  # fmt: skip
        return trainer, options.init_generator
    return Trainer(config, options.device, options.data_pool, options.data_processes), None


def train(options: RunOptions, config: TrainConfig, log=print):
    """Run training; returns the trainer at the end (checkpoint written)."""
    outdir = Path(options.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    trainer, source = open_trainer(options, config)
    started_from = "started G from" if source == options.init_generator else "resumed from"
    log(f"{started_from + ' ' + str(source) if source else 'new run'} at {trainer.nimg / 1000:.3f}"
        f" kimg on {trainer.device} (fused_modconv={trainer.fused_modconv}, data "
        f"pool {trainer.data_pool}); config {dataclasses.asdict(trainer.config)}")  # fmt: skip
    latents = sample_latents(trainer.G.z_dim, 64, trainer.device)
    if not (outdir / "reals.png").is_file():
        save_grid(outdir / "reals.png", torch.stack([trainer.dataset[i][0] for i in range(64)]))
    if source is None:
        save_sample_grid(outdir / "samples-000000.png", trainer.G_ema, latents)

    batch_kimg = trainer.config.batch_size / 1000
    progress = ProgressBar(
        options.total_kimg, trainer.nimg / 1000, interval_s=options.progress_interval_s
    )
    started = time.monotonic()
    last_checkpoint = started
    checkpointed_iteration = None
    next_sample_kimg = (int(trainer.nimg / 1000 / options.sample_kimg) + 1) * options.sample_kimg
    stats = {}
    with _StopFlag() as stop:
        while trainer.nimg / 1000 < options.total_kimg and not stop.stop:
            if options.minutes is not None and time.monotonic() - started > options.minutes * 60:
                break
            step_start = time.monotonic()
            stats = trainer.step()
            trainer.train_seconds += time.monotonic() - step_start
            kimg = trainer.nimg / 1000
            progress.update(kimg, stats)
            if kimg + batch_kimg / 2 >= next_sample_kimg:
                save_sample_grid(outdir / f"samples-{round(kimg):06d}.png", trainer.G_ema,
                                 latents)  # fmt: skip
                next_sample_kimg += options.sample_kimg
            if time.monotonic() - last_checkpoint > options.checkpoint_minutes * 60:
                _checkpoint(trainer, outdir, stats, progress)
                last_checkpoint = time.monotonic()
                checkpointed_iteration = trainer.iteration
    progress.update(trainer.nimg / 1000, stats, force=True)
    progress.close()
    if trainer.iteration != checkpointed_iteration:
        _checkpoint(trainer, outdir, stats, progress)
    save_sample_grid(outdir / "samples-latest.png", trainer.G_ema, latents)
    return trainer


def _checkpoint(trainer, outdir, stats, progress):
    trainer.save(outdir / CHECKPOINT_STEM)
    kimg = trainer.nimg / 1000
    record = {
        "kimg": kimg, "iteration": trainer.iteration, "train_seconds": trainer.train_seconds,
        "kimg_per_hour": progress.kimg_per_hour(kimg), "time": time.time(), **stats,
    }  # fmt: skip
    append_log(outdir / "log.jsonl", record)
