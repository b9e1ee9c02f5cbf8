"""The `draggan-fast` command line: one sub-command per module of this package.

Each command module (every module here but `args`) defines `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Command modules import nothing heavy at their top
level (no torch, no compiled extension), so help, `--version` and argument errors answer at once;
`run` imports what it needs. Bad input ends in one clear line on stderr (exit 2), never a
traceback.
"""

import argparse
import ctypes
import importlib
import pkgutil
import sys


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


_NOT_COMMANDS = {"args"}


def _command_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name not in _NOT_COMMANDS:
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser(command: str | None = None):
    """The parser of every command, or with `command` given, one whose other sub-commands are
    listed but have no arguments (so only that command's `add_arguments` runs)."""
    from draggan_fast import __version__

    parser = argparse.ArgumentParser(
        prog="draggan-fast",
        description="draggan-fast: a fast, safe, headless engine for DragGAN on StyleGAN2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.HELP,
        )
        if command is None or command == module.NAME:
            module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _command_in(argv) -> str:
    """The sub-command named in argv ("" when there is none): the first word not an option."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv=None):
    tune_allocator()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
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
