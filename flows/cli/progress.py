"""A progress bar on the terminal: segments done / total, elapsed, ETA. Quiet when stderr is not a
terminal (a pipe, a log file, CI)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """``ProgressBar("forecast")(done, total)`` redraws one line on stderr."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.started = time.monotonic()
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        share = done / total if total else 1.0
        eta = _clock(elapsed / done * (total - done)) if done else "--"
        bar = "#" * int(self.width * share)
        self.stream.write(f"\r{self.label} [{bar:<{self.width}s}] {done}/{total} segments  {_clock(elapsed)} elapsed, ETA {eta} ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
