"""The one rule for every value that comes from the wire, applied by every parser before a value enters a row.

- ids are integers in `[0, 2^63)`: the range of the `int8` columns (a larger id would fail the binary COPY
  and, with it, the whole batch).
- times are epoch integers whose unit is told by their magnitude (seconds, milliseconds, microseconds,
  nanoseconds: the plausible window below is disjoint at each scale), converted to milliseconds, and must
  fall in 2009-01-01 .. now + 1 day. Upbit has sent microseconds, Coinglass documents seconds in places;
  anything else (year 2052, year 10000, 0) is rejected, never stored as a strange date.
- prices and sizes are finite and > 0 (`"Infinity"`, `1e400`, NaN, negatives and zero are rejected);
  other numbers (funding rates, basis, ratios) are finite.
- a best bid must be below the best ask (a crossed book is not a book).
- optional fields (`T` = 0, `""`, null) become None rather than 1970 or 0.0.
Every violation is a `MalformedFrame` naming the field, so the collectors count and skip it.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

from cqt.collect.rows import MalformedFrame, ms_to_dt

ID_LIMIT = 2**63
EARLIEST_MS = 1_230_768_000_000  # 2009-01-01T00:00:00Z
FUTURE_SLACK_MS = 86_400_000  # now + 1 day: clocks drift, next funding times lie hours ahead
# s, ms, µs, ns as (multiplier, divisor) to milliseconds; the window at each scale overlaps no other
_SCALES = ((1000, 1), (1, 1), (1, 1000), (1, 1_000_000))

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


def num(value: Any, name: str) -> float:
    """A venue number (JSON number or plain decimal string) as float; MalformedFrame if it is neither."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedFrame(f"{name}: expected a number, got {value!r}")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        if _NON_FINITE.fullmatch(value):
            raise MalformedFrame(f"{name}: {value!r} is not finite", "value")
        raise MalformedFrame(f"{name}: expected a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        raise MalformedFrame(f"{name}: number out of range", "value") from None


def integer(value: Any, name: str) -> int:
    """A venue integer (JSON integer or digit string); MalformedFrame otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedFrame(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise MalformedFrame(f"{name}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:  # more digits than int() converts
        raise MalformedFrame(f"{name}: integer out of range", "id") from None


def text(value: Any, name: str) -> str:
    """A non-empty string (symbols, statuses)."""
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"{name}: expected a non-empty string, got {value!r}")
    return value


def wire_id(value: Any, name: str) -> int:
    """An id in `[0, 2^63)`."""
    out = integer(value, name)
    if not 0 <= out < ID_LIMIT:
        raise MalformedFrame(f"{name}: id {out} outside [0, 2^63)", "id")
    return out


def epoch_ms(value: Any, name: str) -> int:
    """An epoch time in s, ms, µs or ns (told by magnitude) as milliseconds within the plausible window."""
    raw = integer(value, name)
    latest = time.time_ns() // 1_000_000 + FUTURE_SLACK_MS
    for mul, div in _SCALES:
        if EARLIEST_MS * div <= raw * mul <= latest * div:
            return raw * mul // div
    raise MalformedFrame(
        f"{name}: time {raw} is not within 2009-01-01 .. now + 1 day in s, ms, us or ns", "time"
    )


def wire_time(value: Any, name: str) -> datetime:
    """`epoch_ms` as an aware UTC datetime."""
    return ms_to_dt(epoch_ms(value, name))


def optional_time(value: Any, name: str) -> datetime | None:
    """A time that may be absent: null, `""` and 0 (a delivery contract's next funding time) are None."""
    if value is None or (not isinstance(value, bool) and value in ("", 0, "0")):
        return None
    return wire_time(value, name)


def finite(value: Any, name: str) -> float:
    """A finite number (rates, ratios, basis: any sign)."""
    out = num(value, name)
    if not math.isfinite(out):
        raise MalformedFrame(f"{name}: {value!r} is not finite", "value")
    return out


def positive(value: Any, name: str) -> float:
    """A price or size: finite and > 0."""
    out = finite(value, name)
    if out <= 0:
        raise MalformedFrame(f"{name}: {value!r} is not positive", "value")
    return out


def optional_positive(value: Any, name: str) -> float | None:
    """A price that may be absent (null or `""`)."""
    return None if value is None or value == "" else positive(value, name)


def optional_finite(value: Any, name: str) -> float | None:
    """A rate that may be absent (null or `""`, e.g. a delivery contract's funding rate)."""
    return None if value is None or value == "" else finite(value, name)


def book_top(bid_price: float, ask_price: float) -> None:
    """A best bid at or above the best ask is a crossed book: no consistent quote."""
    if bid_price >= ask_price:
        raise MalformedFrame(f"crossed book: bid {bid_price} >= ask {ask_price}", "book")
