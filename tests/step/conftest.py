"""The step tests drive the backends through sessions on the session tests' tiny generators and
the recorded official drag: the same fixtures (defined in tests/session/conftest.py)."""

from tests.session.conftest import official_run, tiny_G

__all__ = ["official_run", "tiny_G"]
