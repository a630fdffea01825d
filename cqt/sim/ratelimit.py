"""Fixed-window request counters as the exchanges apply them (per IP or per key, per calendar window)."""

from __future__ import annotations

import time
from collections.abc import Callable


class WindowCounter:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self._clock = clock
        self._used: dict[str, tuple[int, float]] = {}

    def window_end(self) -> float:
        now = self._clock()
        return (now // self.window_s + 1) * self.window_s

    def used(self, key: str) -> float:
        window = self._clock() // self.window_s
        current, used = self._used.get(key, (-1, 0.0))
        return used if current == window else 0.0

    def add(self, key: str, amount: float) -> float:
        """Count `amount` for `key` in the current window; returns the window's total."""
        window = int(self._clock() // self.window_s)
        current, used = self._used.get(key, (-1, 0.0))
        total = (used if current == window else 0.0) + amount
        self._used[key] = (window, total)
        return total
