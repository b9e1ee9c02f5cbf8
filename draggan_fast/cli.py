"""The `draggan-fast` command line: one sub-command per module in `draggan_fast.commands`.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Bad input ends in one clear line on stderr (exit 2), never a traceback.
"""

import argparse
import ctypes
import importlib
import pkgutil
import sys

from draggan_fast import commands


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_allocator():
    """Keep big freed buffers in the process (glibc only).

    Without this, conv-heavy loops on the CPU spend a third or more of their time in page faults
    because glibc hands every large freed buffer back to the OS. Only application entry points
    call this; a library import never changes the allocator.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 100_000_000_000)
    except (OSError, AttributeError):
        pass


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="draggan-fast",
        description="draggan-fast: a fast, safe, headless engine for DragGAN on StyleGAN2.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    tune_allocator()
    args = build_parser().parse_args(argv)
    from draggan_fast.stylegan.errors import CheckpointError

    try:
        return int(args._run(args) or 0)
    except (CommandError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"draggan-fast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"draggan-fast {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
