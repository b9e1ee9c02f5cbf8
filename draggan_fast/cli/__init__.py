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
import re
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


_NOT_COMMANDS = {"args", "outputs"}


def _command_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name not in _NOT_COMMANDS:
            yield importlib.import_module(f"{__name__}.{info.name}")


def command_names() -> list[str]:
    """The name of every sub-command, sorted."""
    return sorted(module.NAME for module in _command_modules())


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line, like every other error of the CLI (usage: --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's default written one way: "(default: %(default)s)", added to the help of
    options that have one and do not already say theirs."""

    def _get_help_string(self, action):
        text = action.help or ""
        has_default = action.default not in (None, False, argparse.SUPPRESS, [])
        if has_default and action.option_strings and "default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser(command: str | None = None):
    """The parser of every command, or with `command` given, one whose other sub-commands are
    listed but have no arguments (so only that command's `add_arguments` runs)."""
    from draggan_fast import __version__

    parser = _Parser(
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
            formatter_class=_HelpFormatter,
        )
        if command is None or command == module.NAME:
            module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


_NEGATIVE_VALUE = re.compile(r"-[0-9.]")


def _attach_negative_values(argv) -> list[str]:
    """["--points", "-1,10->20,20"] -> ["--points=-1,10->20,20"]: argparse reads a word that
    starts with "-" as an option unless it is a plain number; no option of ours starts with a
    digit, so such a word after an option is that option's value."""
    joined = []
    for word in argv:
        previous = joined[-1] if joined else ""
        if _NEGATIVE_VALUE.match(word) and previous.startswith("--") and "=" not in previous:
            joined[-1] = f"{previous}={word}"
        else:
            joined.append(word)
    return joined


def _command_in(argv) -> str:
    """The sub-command named in argv ("" when there is none): the first word not an option."""
    return next((word for word in argv if not word.startswith("-")), "")


def _user_errors() -> tuple[type, ...]:
    """Exceptions that are bad input, said in one line. A CheckpointError can only have been
    raised if its module was imported, so it is looked up without importing torch."""
    errors = sys.modules.get("draggan_fast.stylegan.errors")
    return (CommandError, ValueError, OSError, *((errors.CheckpointError,) if errors else ()))


def main(argv=None):
    tune_allocator()
    argv = _attach_negative_values(sys.argv[1:] if argv is None else list(argv))
    try:
        args = build_parser(_command_in(argv)).parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or an argument error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args._run(args) or 0)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"draggan-fast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"draggan-fast {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
