"""`draggan-fast train`: train the project's StyleGAN2 on procedural cartoon faces."""

import dataclasses
from pathlib import Path

from draggan_fast.cli.args import add_device_argument, pick_device

NAME = "train"
HELP = "train a StyleGAN2 on the procedural cartoon faces (resumable)"

_CONFIG_FLAGS = {
    "resolution": ("--resolution", int, "image size (16..256, a power of two)"),
    "z_dim": ("--z-dim", int, "latent z size"),
    "w_dim": ("--w-dim", int, "latent w size"),
    "mapping_layers": ("--map-layers", int, "mapping network depth"),
    "channel_base": ("--channel-base", int, "channels = min(channel_base / res, channel_max)"),
    "channel_max": ("--channel-max", int, "most channels of any block"),
    "batch_size": ("--batch", int, "images per iteration"),
    "g_lr": ("--g-lr", float, "generator learning rate"),
    "d_lr": ("--d-lr", float, "discriminator learning rate"),
    "r1_gamma": ("--gamma", float, "R1 weight"),
    "r1_interval": ("--r1-interval", int, "iterations between lazy R1 steps"),
    "ema_kimg": ("--ema-kimg", float, "EMA half-life of G_ema in kimg"),
    "style_mixing": ("--style-mixing", float, "style-mixing probability"),
    "seed": ("--seed", int, "seed of the weights and latents"),
    "data_seed": ("--data-seed", int, "seed of the face dataset"),
}


def add_arguments(parser):
    from draggan_fast.stylegan.training.config import TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--outdir", type=Path, required=True, help="run folder (resumes from it)")
    parser.add_argument("--kimg", type=float, default=200.0, help="train until this many kimg")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
    parser.add_argument(
        "--checkpoint-minutes", type=float, default=5.0,
        help="minutes between checkpoints written to --outdir (a stopped run resumes from the "
        "last one)",
    )  # fmt: skip
    parser.add_argument("--sample-kimg", type=float, default=10.0, help="kimg between grids")
    parser.add_argument(
        "--resume", type=Path, default=None,
        help="checkpoint .json to start from (used only while --outdir has no checkpoint)",
    )  # fmt: skip
    parser.add_argument(
        "--init-generator", type=Path, default=None,
        help="start G and G_ema from this generator file and D afresh (used only with no "
        "checkpoint to resume; the architecture is the generator's)",
    )  # fmt: skip
    parser.add_argument(
        "--init-kimg", type=float, default=0.0,
        help="kimg the --init-generator was trained for (the counters and faces continue there)",
    )  # fmt: skip
    parser.add_argument(
        "--g-frozen-kimg", dest="g_frozen_kimg", type=float, default=None,
        help="do not update G before this kimg: warms a fresh D up (with --init-generator, "
        "e.g. --init-kimg + 10)",
    )  # fmt: skip
    add_device_argument(parser)
    parser.add_argument(
        "--data-pool", type=int, default=None,
        help="pre-render this many faces and keep them on the device (default: 200000 on CUDA, "
        "0 = render on the fly on the CPU)",
    )  # fmt: skip
    parser.add_argument("--data-processes", type=int, default=None, help="pool renderers")
    parser.add_argument(
        "--fp16-res", type=int, default=None,
        help="float16 resolutions on CUDA (mixed precision; default: 2 on CUDA, 0 on CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--export", type=Path, default=None,
        help="write G_ema here (safetensors + JSON generator) at the end",
    )  # fmt: skip
    for field, (flag, kind, text) in _CONFIG_FLAGS.items():
        parser.add_argument(
            flag, dest=field, type=kind, default=None,
            help=f"{text} (default: {getattr(defaults, field)} for a new run, the "
            "checkpoint's when resuming)",
        )  # fmt: skip


def run(args):
    from draggan_fast.cli import CommandError
    from draggan_fast.stylegan.training import RunOptions, TrainConfig, train
    from draggan_fast.stylegan.training.export import export_generator

    if args.kimg < 0 or (args.minutes is not None and args.minutes <= 0):
        raise CommandError("--kimg must be >= 0 and --minutes > 0")
    if args.data_pool is not None and args.data_pool < 0:
        raise CommandError(f"--data-pool must be >= 0, got {args.data_pool}")
    if args.resume is not None and not args.resume.exists():
        raise CommandError(f"--resume {args.resume}: no such checkpoint")
    if args.init_generator is not None and not args.init_generator.is_file():
        raise CommandError(f"--init-generator {args.init_generator}: no such file")
    if args.init_kimg < 0 or (args.g_frozen_kimg is not None and args.g_frozen_kimg < 0):
        raise CommandError("--init-kimg and --g-frozen-kimg must be >= 0")
    device = pick_device(args.device)
    on_cuda = device.startswith("cuda")
    given = {f: getattr(args, f) for f in _CONFIG_FLAGS if getattr(args, f) is not None}
    if args.g_frozen_kimg is not None:
        given["g_frozen_kimg"] = args.g_frozen_kimg
    if args.fp16_res is not None:
        given["num_fp16_res"] = args.fp16_res
    # A new run on CUDA defaults to 2 float16 resolutions; a resumed run keeps its checkpoint's
    # unless --fp16-res is given (only `given` overrides a checkpoint).
    fp16_default = {"num_fp16_res": 2} if on_cuda and args.fp16_res is None else {}
    config = TrainConfig(**given, **fp16_default)
    config.validate()
    options = RunOptions(
        outdir=args.outdir, total_kimg=args.kimg, minutes=args.minutes,
        checkpoint_minutes=args.checkpoint_minutes, sample_kimg=args.sample_kimg,
        resume=args.resume, init_generator=args.init_generator, init_kimg=args.init_kimg,
        device=device,
        data_pool=args.data_pool if args.data_pool is not None else (200_000 if on_cuda else 0),
        data_processes=args.data_processes,
        overrides=given,
    )  # fmt: skip
    trainer = train(options, config)
    print(f"trained to {trainer.nimg / 1000:.3f} kimg; checkpoint in {args.outdir}")
    print(f"config: {dataclasses.asdict(trainer.config)}")
    if args.export is not None:
        export_generator(trainer.G_ema, args.export)
        print(f"exported G_ema to {args.export}")
    return 0
