"""Shared helpers of the parsers: exact time conversion, number coercion, the malformed-frame error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Row = tuple[Any, ...]
# Where collectors put rows: `Writer.put`-shaped, (table, rows).
Sink = Callable[[str, list[Row]], None]


class MalformedFrame(ValueError):
    """A payload that does not have the shape the venue documents; counted and skipped, never fatal."""


def ms_to_dt(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime, exactly (no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)


def dt_to_ms(ts: datetime) -> int:
    """Aware datetime -> epoch milliseconds, exactly (the inverse of `ms_to_dt`)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def num(value: Any, field: str) -> float:
    """A venue number (JSON number or decimal string) as float; MalformedFrame if it is neither."""
    if isinstance(value, bool) or value is None:
        raise MalformedFrame(f"{field}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MalformedFrame(f"{field}: expected a number, got {value!r}") from None


def integer(value: Any, field: str) -> int:
    """A venue integer (ids, ms timestamps); MalformedFrame otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedFrame(f"{field}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise MalformedFrame(f"{field}: expected an integer, got {value!r}") from None


def field(payload: dict[str, Any], key: str) -> Any:
    """payload[key], or MalformedFrame naming the missing key."""
    try:
        return payload[key]
    except (KeyError, TypeError):
        raise MalformedFrame(f"missing field {key!r}") from None
