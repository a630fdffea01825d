"""Fault injection: a thread-safe plan the streams and HTTP handlers consult, scriptable from tests
(`sim.faults.gap("binance", "BTCUSDT", count=5)`) and from the CLI (`--fault gap:venue=binance,...`).

Kinds (what a client observes):
  drop       connections are cut without a close frame (TCP reset-like); `count` connections, 0 = all
  stall      connections stay open but go silent (no data, no pings, no answers) for `seconds` (0 = forever)
             (drop and stall act on the open connections whose WebSocket path starts with `path`)
  gap        the next `count` trades of `symbol` are withheld from every stream; REST still returns them
  duplicate  the next `count` data frames are sent twice
  reorder    the next `count` data frames are each swapped with the frame after them
  malformed  `count` hostile copies of the next data frames are sent right after them (nothing is lost),
             cycling through HOSTILE_CASES: invalid JSON, microsecond times, times past year 9999,
             deep nesting, ids >= 2^63, non-finite / negative / zero prices, crossed and zero-padded books,
             all-market stream names and unsubscribed symbols, `T: 0` and times in year 2052; on Coinglass,
             the next `count` history answers carry their `time`s in seconds or in year 2052, in turn
  http_error the next `count` REST requests (optionally under `path`) fail with HTTP `status`
  slow       the next `count` REST requests are delayed by `seconds` before being answered
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cqt.sim.wire import JSONValue, Num, encode

VENUES = ("upbit", "binance", "coinglass")
STREAM_KINDS = ("drop", "stall", "gap", "duplicate", "reorder", "malformed")
HTTP_KINDS = ("http_error", "slow")
KINDS = STREAM_KINDS + HTTP_KINDS

CLI_HELP = (
    "Fault spec KIND[:key=value,...]; kinds: "
    + ", ".join(KINDS)
    + ". Keys: venue (upbit|binance|coinglass), "
    "symbol (gap), count, seconds (stall duration / slow delay), status (http_error), "
    "path (REST path prefix; WebSocket path prefix for drop and stall), "
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
        self._hostile = itertools.count()
        self._hostile_series = itertools.count()

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

    def hostile(self, payload: str) -> str:
        """The next hostile copy of `payload` (the cases take turns across the whole run)."""
        return hostile_frame(payload, next(self._hostile))

    def hostile_series(self, body: str) -> str:
        """The next hostile copy of a Coinglass history answer (seconds and year 2052 take turns)."""
        return hostile_series(body, next(self._hostile_series))

    # Convenience API for tests and scripts.
    def drop(self, venue: str | None = None, count: int = 0) -> None:
        self.arm(Fault("drop", venue=venue, count=count))

    def stall(self, venue: str | None = None, seconds: float = 0.0, count: int = 0, path: str = "") -> None:
        self.arm(Fault("stall", venue=venue, seconds=seconds, count=count, path=path))

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


# What a venue has really sent or could send that a collector must survive (issue: real-world inputs).
# Each case either makes the frame unusable (the collector must reject it), or leaves the rows it carries
# unchanged (microsecond times, all-market stream names: the collector must read them as the original), or
# is valid as it stands (`T: 0`: a mark price without a next funding time). Copies go out after their
# originals, so an original's row is the one a natural key keeps.
HOSTILE_CASES = (
    "truncated",
    "microseconds",
    "year_10000",
    "deep_nesting",
    "id_2_63",
    "impossible_value",
    "all_market_or_unsubscribed",
    "optional_zero_or_2052",
)
_TIME_KEYS = frozenset(("T", "E", "timestamp", "trade_timestamp", "tms", "ttms"))
_ID_KEYS = frozenset(("sequential_id", "sid", "u"))  # and `a` of an aggTrade (`a` is the ask of a bookTicker)
_VALUE_KEYS = frozenset(
    (
        "p",
        "q",
        "b",
        "B",
        "A",
        "ap",
        "z",
        "trade_price",
        "trade_volume",
        "tp",
        "tv",
        "ask_price",
        "bid_price",
        "ask_size",
        "bid_size",
        "bp",
        "as",
        "bs",
    )
)
_IMPOSSIBLE = ("Infinity", "1e400", "NaN", "-1", "0", "crossed", "zero_padded")
_YEAR_10000_MS = 253_402_300_800_000
_26_YEARS_MS = 26 * 365 * 86_400_000
_UNSUBSCRIBED = "NOTSUBSCRIBED"
_NESTING = 100_000


def hostile_frame(payload: str, n: int) -> str:
    """Hostile copy number `n` of one data frame (Binance envelope or Upbit message, as JSON text)."""
    case = HOSTILE_CASES[n % len(HOSTILE_CASES)]
    if case == "deep_nesting":
        return "[" * _NESTING + "]" * _NESTING
    frame = json.loads(payload)
    before = json.dumps(frame)
    if case == "microseconds":
        frame = _rewrite(frame, _TIME_KEYS, lambda v: v * 1000)
    elif case == "year_10000":
        frame = _rewrite(frame, _TIME_KEYS, lambda v: v + _YEAR_10000_MS)
    elif case == "id_2_63":
        ids = _ID_KEYS | {"a"} if '"aggTrade"' in payload else _ID_KEYS
        frame = _rewrite(frame, ids, lambda v: v + 2**63)
    elif case == "impossible_value":
        frame = _impossible(frame, _IMPOSSIBLE[n // len(HOSTILE_CASES) % len(_IMPOSSIBLE)])
    elif case == "all_market_or_unsubscribed":
        frame = _all_market_or_unsubscribed(frame)
    elif case == "optional_zero_or_2052":
        data = frame.get("data") if isinstance(frame, dict) else None
        if isinstance(data, dict) and data.get("e") == "markPriceUpdate":
            data["T"] = 0  # what a delivery contract sends: no next funding time
        else:
            frame = _rewrite(frame, _TIME_KEYS, lambda v: v + _26_YEARS_MS)
    if case == "truncated" or json.dumps(frame) == before:  # nothing to spoil in this frame: cut it short
        return payload[: max(1, len(payload) // 2)]
    return encode(frame)


def _rewrite(value: Any, keys: frozenset[str], change: Callable[[Any], Any]) -> Any:
    """`value` with every integer under one of `keys` (at any depth) replaced by `change(integer)`."""
    if isinstance(value, dict):
        return {
            k: change(v)
            if k in keys and isinstance(v, int) and not isinstance(v, bool)
            else _rewrite(v, keys, change)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, keys, change) for v in value]
    return value


def _impossible(frame: Any, how: str) -> JSONValue:
    book = _book(frame)
    if how == "crossed" and book is not None:
        bid_key, ask_key = ("b", "a") if "b" in book else ("bid_price", "ask_price")
        target = book if "b" in book else book["orderbook_units"][0]
        target[bid_key], target[ask_key] = target[ask_key], target[bid_key]
        return frame  # type: ignore[no-any-return]
    if how == "zero_padded" and book is not None and "orderbook_units" in book:
        for unit in book["orderbook_units"]:  # an empty ask side, as Upbit pads it
            unit["ask_price"] = unit["ask_size"] = 0
        return frame  # type: ignore[no-any-return]
    token = "Infinity" if how in ("crossed", "zero_padded") else how
    keys = _VALUE_KEYS | {"a"} if book is not None and "b" in book else _VALUE_KEYS
    return _rewrite_values(frame, keys, token)  # type: ignore[no-any-return]


def _rewrite_values(value: Any, keys: frozenset[str], token: str) -> Any:
    """Every number (or decimal string, as Binance sends them) under `keys` replaced by `token`."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in keys and isinstance(v, str):
                out[k] = token
            elif k in keys and isinstance(v, int | float) and not isinstance(v, bool):
                out[k] = Num(token)
            else:
                out[k] = _rewrite_values(v, keys, token)
        return out
    if isinstance(value, list):
        return [_rewrite_values(v, keys, token) for v in value]
    return value


def _book(frame: Any) -> dict[str, Any] | None:
    """The book object of a bookTicker envelope or an Upbit DEFAULT orderbook message, else None."""
    if not isinstance(frame, dict):
        return None
    data = frame.get("data", frame)
    if isinstance(data, dict) and (data.get("e") == "bookTicker" or data.get("type") == "orderbook"):
        return data
    return None


def _all_market_or_unsubscribed(frame: Any) -> Any:
    """A mark price or liquidation under its all-market stream name (the same rows); anything else for a
    symbol nobody subscribed to."""
    if not isinstance(frame, dict):
        return frame
    data = frame.get("data")
    if isinstance(data, dict) and data.get("e") == "markPriceUpdate":
        return {"stream": "!markPrice@arr@1s", "data": [data]}
    if isinstance(data, dict) and data.get("e") == "forceOrder":
        return {"stream": "!forceOrder@arr", "data": data}
    target = data if isinstance(data, dict) else frame
    for key in ("s", "code", "cd"):
        if key in target:
            target[key] = f"KRW-{_UNSUBSCRIBED}" if key != "s" else _UNSUBSCRIBED
    return frame


def hostile_series(body: str, n: int) -> str:
    """Hostile copy number `n` of a Coinglass history answer: every bucket `time` in seconds (as some
    endpoints send it: the same rows) or, in turn, moved to year 2052 (as the docs' own examples)."""
    doc = json.loads(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("time"), int):
            item["time"] = item["time"] // 1000 if n % 2 == 0 else item["time"] + _26_YEARS_MS
    return encode(doc)
