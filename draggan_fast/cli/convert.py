"""`draggan-fast convert IN OUT.safetensors`: any supported checkpoint -> our safetensors format."""

from pathlib import Path

from draggan_fast.cli import CommandError

NAME = "convert"
HELP = (
    "convert a generator checkpoint (official or legacy TensorFlow pickle, or safetensors) to "
    "the draggan-fast safetensors format, without running code from it"
)


def add_arguments(parser):
    parser.add_argument("source", type=Path, help="input checkpoint (.pkl or .safetensors)")
    parser.add_argument("dest", type=Path, help="output file, ending in .safetensors")
    parser.add_argument("--force", action="store_true", help="overwrite DEST if it exists")


def run(args) -> int:
    from draggan_fast.stylegan.loading import load_generator, save_generator

    if args.dest.suffix != ".safetensors":
        raise CommandError(f"output {args.dest} must end in .safetensors")
    if args.dest.exists() and not args.force:
        raise CommandError(f"output {args.dest} exists (pass --force to overwrite)")
    if args.dest.exists() and args.source.exists() and args.dest.samefile(args.source):
        raise CommandError("output and input are the same file")
    G = load_generator(args.source)
    save_generator(G, args.dest)
    print(
        f"wrote {args.dest}: {G.img_resolution}x{G.img_resolution} generator, "
        f"z_dim {G.z_dim}, w_dim {G.w_dim}, num_ws {G.num_ws}"
    )
    return 0
