"""Progress lines of long commands (`cqt export`, `cqt bars rebuild`): one line per chunk on stderr.

Plain lines instead of a redrawn bar: they read the same in a terminal, a log file and CI output, and
stdout stays the command's result alone.
"""

from __future__ import annotations

import time

import typer


def duration_text(seconds: float) -> str:
    """``75`` -> ``1m15s``, ``3700`` -> ``1h01m``."""
    s = round(seconds)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Work measured in ``total`` units (e.g. seconds of data), reported chunk by chunk."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.done = 0.0
        self.started = self._chunk_started = time.monotonic()

    def step(self, units: float, what: str, count: int, unit: str) -> None:
        """Report a finished chunk of ``units`` that produced ``count`` ``unit``: its rate and the ETA."""
        now = time.monotonic()
        self.done += units
        rate = count / max(now - self._chunk_started, 1e-3)
        self._chunk_started = now
        left = (now - self.started) * max(self.total - self.done, 0.0) / max(self.done, 1e-9)
        typer.echo(f"{what}: {count} {unit}, {rate:.0f} {unit}/s, ETA {duration_text(left)}", err=True)
