"""Fault injection: a thread-safe plan the streams and HTTP handlers consult, scriptable from tests
(`sim.faults.gap("binance", "BTCUSDT", count=5)`) and from the CLI (`--fault gap:venue=binance,...`).

Kinds (what a client observes):
  drop       connections are cut without a close frame (TCP reset-like); `count` connections, 0 = all
  stall      connections stay open but go silent (no data, no pings, no answers) for `seconds` (0 = forever)
  gap        the next `count` trades of `symbol` are withheld from every stream; REST still returns them
  duplicate  the next `count` data frames are sent twice
  reorder    the next `count` data frames are each swapped with the frame after them
  malformed  `count` frames of invalid JSON are injected before the next data frames (nothing is lost)
  http_error the next `count` REST requests (optionally under `path`) fail with HTTP `status`
  slow       the next `count` REST requests are delayed by `seconds` before being answered
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

VENUES = ("upbit", "binance", "coinglass")
STREAM_KINDS = ("drop", "stall", "gap", "duplicate", "reorder", "malformed")
HTTP_KINDS = ("http_error", "slow")
KINDS = STREAM_KINDS + HTTP_KINDS

CLI_HELP = (
    "Fault spec KIND[:key=value,...]; kinds: "
    + ", ".join(KINDS)
    + ". Keys: venue (upbit|binance|coinglass), "
    "symbol (gap), count, seconds (stall duration / slow delay), status (http_error), path (REST path prefix), "
    "at (seconds after start), every (repeat period in seconds). "
    "Example: --fault gap:venue=binance,symbol=BTCUSDT,count=5,at=30,every=60"
)


@dataclass(frozen=True)
class Fault:
    kind: str
    venue: str | None = None
    symbol: str | None = None
    count: int = 1
    seconds: float = 0.0
    status: int = 503
    path: str = ""
    at: float = 0.0
    every: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.venue is not None and self.venue not in VENUES:
            raise ValueError(f"unknown venue {self.venue!r}; expected one of {', '.join(VENUES)}")
        if self.kind == "gap" and not self.symbol:
            raise ValueError("a gap fault needs symbol=")
        if self.count < 0 or self.seconds < 0 or self.at < 0 or self.every < 0:
            raise ValueError("count, seconds, at and every must not be negative")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        kind, _, rest = spec.partition(":")
        values: dict[str, str] = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"fault option {item!r} is not key=value")
            values[key.strip()] = value.strip()
        unknown = set(values) - {"venue", "symbol", "count", "seconds", "status", "path", "at", "every"}
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        return cls(
            kind=kind.strip(),
            venue=values.get("venue"),
            symbol=values.get("symbol"),
            count=int(values.get("count", "1")),
            seconds=float(values.get("seconds", "0")),
            status=int(values.get("status", "503")),
            path=values.get("path", ""),
            at=float(values.get("at", "0")),
            every=float(values.get("every", "0")),
        )

    def matches(self, venue: str, symbol: str | None = None, path: str | None = None) -> bool:
        if self.venue is not None and self.venue != venue:
            return False
        if self.symbol is not None and symbol is not None and self.symbol != symbol:
            return False
        return path is None or path.startswith(self.path)


ConnectionHook = Callable[[Fault], None]


class FaultPlan:
    """Armed faults with remaining counts. Connection faults (drop, stall) act at once through a hook the
    server installs; the others are consumed by the stream writers and HTTP handlers as they run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[list[object]] = []  # [fault, remaining]
        self._scheduled: list[Fault] = []
        self._hook: ConnectionHook | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.active = False  # any counted fault armed; read without the lock on the hot path
        self._timers: set[asyncio.Future[None]] = set()
        self._started = 0.0

    def attach(self, loop: asyncio.AbstractEventLoop, hook: ConnectionHook) -> None:
        """Bind to the simulator's running loop; scheduled times count from now."""
        self._loop = loop
        self._hook = hook
        self._started = loop.time()
        with self._lock:
            scheduled = list(self._scheduled)
        for fault in scheduled:
            self._start_timer(fault)

    def arm(self, fault: Fault) -> None:
        if fault.kind in ("drop", "stall"):
            if self._hook is None or self._loop is None:
                raise RuntimeError("connection faults need a running simulator")
            self._loop.call_soon_threadsafe(self._hook, fault)
            return
        with self._lock:
            self._armed.append([fault, fault.count])
            self.active = True

    def schedule(self, fault: Fault) -> None:
        """Arm `fault` `at` seconds after the simulator started, then every `every` seconds if set."""
        with self._lock:
            self._scheduled.append(fault)
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._start_timer, fault)

    def _start_timer(self, fault: Fault) -> None:
        task = asyncio.ensure_future(self._timer(fault))
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _timer(self, fault: Fault) -> None:
        loop = asyncio.get_running_loop()
        due = self._started + fault.at
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.arm(fault)
            if fault.every <= 0:
                return
            due += fault.every

    def detach(self) -> None:
        for task in list(self._timers):
            task.cancel()
        self._loop = None
        self._hook = None

    def take(
        self, kind: str, venue: str, symbol: str | None = None, path: str | None = None, n: int = 1
    ) -> int:
        """Consume up to `n` units of armed `kind` faults matching the target; returns units granted."""
        granted = 0
        with self._lock:
            for entry in self._armed:
                fault, remaining = entry
                assert isinstance(fault, Fault) and isinstance(remaining, int)
                if fault.kind != kind or remaining <= 0 or not fault.matches(venue, symbol, path):
                    continue
                use = min(remaining, n - granted)
                entry[1] = remaining - use
                granted += use
                if granted == n:
                    break
            self._armed = [e for e in self._armed if isinstance(e[1], int) and e[1] > 0]
            self.active = bool(self._armed)
        return granted

    def take_http(self, kind: str, venue: str, path: str) -> Fault | None:
        """The armed HTTP fault that applies to this request (one unit consumed), if any."""
        with self._lock:
            for entry in self._armed:
                fault, remaining = entry
                assert isinstance(fault, Fault) and isinstance(remaining, int)
                if fault.kind == kind and remaining > 0 and fault.matches(venue, None, path):
                    entry[1] = remaining - 1
                    self._armed = [e for e in self._armed if isinstance(e[1], int) and e[1] > 0]
                    self.active = bool(self._armed)
                    return fault
        return None

    # Convenience API for tests and scripts.
    def drop(self, venue: str | None = None, count: int = 0) -> None:
        self.arm(Fault("drop", venue=venue, count=count))

    def stall(self, venue: str | None = None, seconds: float = 0.0, count: int = 0) -> None:
        self.arm(Fault("stall", venue=venue, seconds=seconds, count=count))

    def gap(self, venue: str, symbol: str, count: int = 1) -> None:
        self.arm(Fault("gap", venue=venue, symbol=symbol, count=count))

    def duplicate(self, venue: str | None = None, count: int = 1) -> None:
        self.arm(Fault("duplicate", venue=venue, count=count))

    def reorder(self, venue: str | None = None, count: int = 1) -> None:
        self.arm(Fault("reorder", venue=venue, count=count))

    def malformed(self, venue: str | None = None, count: int = 1) -> None:
        self.arm(Fault("malformed", venue=venue, count=count))

    def http_error(self, venue: str | None = None, status: int = 503, count: int = 1, path: str = "") -> None:
        self.arm(Fault("http_error", venue=venue, status=status, count=count, path=path))

    def slow(self, venue: str | None = None, seconds: float = 1.0, count: int = 1, path: str = "") -> None:
        self.arm(Fault("slow", venue=venue, seconds=seconds, count=count, path=path))
