"""A progress line on stderr while a benchmark runs.

On a terminal the line rewrites itself in place; in a log (CI, a pipe) it prints a line when a
phase ends and at most every `log_interval_s` seconds in between, so logs stay short.
"""

import sys
import time


class ProgressLine:
    def __init__(self, label: str, stream=None, log_interval_s: float = 10.0):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval_s = log_interval_s
        self._last_log = time.monotonic()
        self._width = 0

    def update(self, phase: str, done: int, total: int, last_ms: float | None = None):
        """Report `done` of `total` steps of `phase`, the last one taking `last_ms`."""
        text = f"[bench {self.label}] {phase} {done}/{total}"
        if last_ms is not None:
            text += f" · last step {last_ms:.1f} ms"
        if self.interactive:
            self._width = max(self._width, len(text))
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            return
        now = time.monotonic()
        if done == total or now - self._last_log >= self.log_interval_s:
            self._last_log = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def note(self, text: str):
        """A line of its own (e.g. "building the generator")."""
        self.finish()
        self.stream.write(f"[bench {self.label}] {text}\n")
        self.stream.flush()

    def finish(self):
        """End the in-place line so the next output starts on a fresh line."""
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
