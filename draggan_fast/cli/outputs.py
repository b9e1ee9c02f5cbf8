"""Output files of a command: checked before any work, written atomically, nothing left behind.

`check_output` fails at once when an output cannot be written (missing folder, a folder in its
place, a suffix the format cannot have, a folder the user may not write in). `StagedOutputs`
gives each output a temporary name in its own folder; the command writes there, and only when
every output is written are they moved into place (`os.replace`, atomic on one file system).
On any error the temporary files are removed, so a failed run leaves no file, whole or partial.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from draggan_fast.cli import CommandError


def check_output(option: str, path: Path, suffixes=None, kind: str | None = None) -> Path:
    """`path` if the command will be able to write it; else a CommandError naming `option`.

    suffixes: the allowed file suffixes (lower case), or None for any; kind: what the file is
    ("an image", ...), said instead of the list of suffixes when that list is long."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        allowed = " or ".join(sorted(suffixes)) if len(suffixes) <= 4 or kind is None else None
        want = f"must end in {allowed}" if allowed else f"must be {kind} (e.g. .png, .jpg, .webp)"
        raise CommandError(f"{option} {path}: {want}")
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(f"{option} {path}: folder {folder} does not exist")
    if path.is_dir():
        raise CommandError(f"{option} {path}: is a folder")
    try:  # the one sure test of "may write here": write there
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".draggan-fast-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandError(f"{option} {path}: cannot write in {folder} ({reason})") from None
    return path


class StagedOutputs:
    """`with StagedOutputs() as staged: write(staged.path(final))`: every file appears at its
    final path only when the block ends without an error; a failed block leaves none."""

    def __init__(self):
        self._moves = []  # (temporary, final)

    def path(self, final, siblings=()) -> Path:
        """A temporary path beside `final`, with its suffix (writers pick formats by it).
        siblings: suffixes of files the writer puts beside it (a session's ".npz")."""
        final = Path(final)
        temporary = final.with_name(f".{final.stem}.{secrets.token_hex(4)}.part{final.suffix}")
        self._moves.append((temporary, final))
        for suffix in siblings:
            self._moves.append((temporary.with_suffix(suffix), final.with_suffix(suffix)))
        return temporary

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                for temporary, final in self._moves:
                    os.replace(temporary, final)
        finally:
            for temporary, _ in self._moves:
                temporary.unlink(missing_ok=True)
        return False
