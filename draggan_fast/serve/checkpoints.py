"""Session checkpoints in a directory shared by the replicas, and the lease that says which
replica holds a session.

Layout: `<root>/<session id>/ckpt-<step>-<nonce>/session.json` (+ `.npz`, DragSession.save: no
pickle) and `meta.json` (the drag under way); `LATEST` names the newest complete checkpoint and
is replaced atomically after it is written, so a reader never sees half a checkpoint. `lease`
holds the owning replica's name; its modification time is the owner's last heartbeat.
"""

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_LATEST, _LEASE, _META, _SESSION = "LATEST", "lease", "meta.json", "session.json"


def check_session_id(session_id) -> str:
    """A session id names a folder: 8-64 characters of [A-Za-z0-9_-], nothing else."""
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise ValueError("a session id is 8-64 characters of letters, digits, '_' and '-'")
    return session_id


def _write_atomically(path: Path, text: str):
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(text)
    os.replace(temporary, path)


class CheckpointStore:
    def __init__(self, root, lease_s: float):
        self.root = Path(root)
        self.lease_s = lease_s
        self.root.mkdir(parents=True, exist_ok=True)

    def _folder(self, session_id) -> Path:
        return self.root / check_session_id(session_id)

    def save(self, session_id, session, meta: dict) -> int:
        """Write the session and `meta` as the newest checkpoint; returns its step."""
        folder = self._folder(session_id)
        name = f"ckpt-{session.step_count:08d}-{uuid.uuid4().hex[:8]}"
        (folder / name).mkdir(parents=True)
        session.save(folder / name / _SESSION)
        (folder / name / _META).write_text(json.dumps(meta))
        _write_atomically(folder / _LATEST, name)
        for old in folder.glob("ckpt-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return session.step_count

    def latest(self, session_id) -> tuple[Path, dict] | None:
        """(the newest checkpoint's session.json, its meta) or None when there is none."""
        folder = self._folder(session_id)
        try:
            name = (folder / _LATEST).read_text().strip()
            meta = json.loads((folder / name / _META).read_text())
        except (OSError, ValueError):
            return None
        if not name.startswith("ckpt-") or "/" in name:
            return None
        return folder / name / _SESSION, meta

    def holder(self, session_id) -> str | None:
        """The replica holding the session now: the lease's owner while its heartbeat is
        younger than lease_s, else None (free to take)."""
        lease = self._folder(session_id) / _LEASE
        try:
            age = time.time() - lease.stat().st_mtime
            owner = lease.read_text().strip()
        except OSError:
            return None
        return owner if age < self.lease_s else None

    def hold(self, session_id, owner: str):
        """Take or renew the lease (the owner's heartbeat)."""
        folder = self._folder(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / _LEASE, owner)

    def remove(self, session_id):
        shutil.rmtree(self._folder(session_id), ignore_errors=True)
