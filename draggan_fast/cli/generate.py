"""`draggan-fast generate`: images for a list of seeds, as the DragGAN GUI would show them, each
the generator's own shape (StyleGAN-Human: the H x H/2 rectangle, without the padding the drag
works on)."""

from __future__ import annotations

from pathlib import Path

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import (
    add_device_argument,
    add_model_argument,
    finite_float,
    model_path,
    parse_seeds,
    pick_device,
)

NAME = "generate"
HELP = (
    "generate one PNG per seed (seedNNNN.png), seeds as in the DragGAN GUI; StyleGAN-Human "
    "images are their H x H/2 rectangles"
)


def add_arguments(parser):
    add_model_argument(parser)
    parser.add_argument("--seeds", required=True, help="seeds: 0-7, or a list like 0,3,10-12")
    parser.add_argument("--outdir", required=True, type=Path, help="folder for the PNGs")
    parser.add_argument("--psi", type=finite_float(), default=0.7, help="truncation psi")
    parser.add_argument(
        "--truncation-cutoff",
        type=int,
        default=None,
        help="truncate only the first N style vectors (default: all)",
    )
    parser.add_argument(
        "--noise-mode", choices=["const", "random", "none"], default="const",
        help="per-layer noise: the model's fixed buffers (const, as DragGAN), fresh random "
        "noise each image, or none",
    )  # fmt: skip
    add_device_argument(parser)


def run(args) -> int:
    import torch
    from PIL import Image

    from draggan_fast import load_generator, z_from_seed
    from draggan_fast.step.backend import image_to_uint8

    seeds = parse_seeds(args.seeds)
    if args.outdir.exists() and not args.outdir.is_dir():
        raise CommandError(f"--outdir {args.outdir}: exists and is not a folder")
    device = pick_device(args.device)
    G = load_generator(model_path(args.model), device=device)
    if args.truncation_cutoff is not None and not 0 <= args.truncation_cutoff <= G.num_ws:
        raise CommandError(f"--truncation-cutoff must be in [0, {G.num_ws}]")
    args.outdir.mkdir(parents=True, exist_ok=True)
    label = torch.zeros([1, G.c_dim], device=device)
    with torch.no_grad():
        for seed in seeds:
            z = z_from_seed(seed, G.z_dim).to(device)
            ws = G.mapping(z, label, truncation_psi=args.psi,
                           truncation_cutoff=args.truncation_cutoff)  # fmt: skip
            img = G.unpad(G.synthesis(ws, noise_mode=args.noise_mode))  # [1, 3, H, W]
            path = args.outdir / f"seed{seed:04d}.png"
            Image.fromarray(image_to_uint8(img).cpu().numpy()).save(path)
    height, width = G.image_shape
    print(f"wrote {len(seeds)} image(s) of {width}x{height} to {args.outdir}")
    return 0
