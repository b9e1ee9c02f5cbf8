"""Session files over the wire: `DragSession.save` / `DragSession.load` through a temporary
folder, as one zip download (`session.json` and the `.npz` of arrays beside it)."""

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SESSION_FILE_NAME = "session.json"
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024


def dump(session) -> tuple[str, bytes, str]:
    """session -> (file name, bytes, mime type) of a zip of what `session.save` writes."""
    with tempfile.TemporaryDirectory(prefix="draggan-save-") as folder:
        session.save(Path(folder) / SESSION_FILE_NAME)
        written = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, path.relative_to(folder).as_posix())
        return "session.zip", buffer.getvalue(), "application/zip"


def load(data: bytes, generator):
    """What `dump` produced (uploaded by a client: untrusted) -> a DragSession on generator."""
    from draggan_fast import DragSession

    with tempfile.TemporaryDirectory(prefix="draggan-load-") as folder:
        root = Path(folder)
        _unzip(data, root)
        if not (root / SESSION_FILE_NAME).is_file():
            raise ValueError(f"the uploaded session has no {SESSION_FILE_NAME}")
        try:
            session = DragSession.load(root / SESSION_FILE_NAME, generator)
        except Exception as exc:  # whatever a hostile file makes the loader raise
            raise _invalid(str(exc).replace(f"{folder}/", ""), exc) from None
    for name, latent in (("w", session.w), ("w0", session.w0)):
        if not np.isfinite(latent).all():  # it would render black and drag nowhere
            raise _invalid(f"{name} holds NaN or infinite values")
    return session


def _invalid(what: str, cause=None) -> ValueError:
    """ValueError("not a valid session file: <what>"), said once, with the cause's type when
    that is not already a ValueError of the session loader."""
    prefix = "not a valid session file: "
    what = what.removeprefix(prefix)
    if cause is not None and not isinstance(cause, ValueError):
        what = f"{type(cause).__name__}: {what}"
    return ValueError(prefix + what)


def _unzip(data: bytes, root: Path):
    """Extract plain files only, no paths outside root, within a size budget."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"the uploaded session is not a valid zip: {exc}") from None
    with archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > MAX_UNZIPPED_BYTES:
            raise ValueError("the uploaded session unpacks to more than 256 MiB")
        for member in members:
            name = Path(member.filename)
            if member.is_dir() or name.is_absolute() or ".." in name.parts:
                raise ValueError(f"the uploaded session holds an unsafe entry {member.filename!r}")
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
