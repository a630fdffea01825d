"""Shared helpers of the parsers: exact time conversion, field access, the malformed-frame error
(the value rules are in `cqt.collect.wire_values`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Row = tuple[Any, ...]
# Where collectors put rows: `Writer.put`-shaped, (table, rows).
Sink = Callable[[str, list[Row]], None]


class MalformedFrame(ValueError):
    """A payload that does not have the shape the venue documents; counted and skipped, never fatal.

    `kind` says which rule it broke (shape, id, time, value, book, unsubscribed), for the per-kind counts.
    """

    def __init__(self, message: str, kind: str = "shape") -> None:
        super().__init__(message)
        self.kind = kind


def ms_to_dt(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime, exactly (no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ms)


def dt_to_ms(ts: datetime) -> int:
    """Aware datetime -> epoch milliseconds, exactly (the inverse of `ms_to_dt`)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def field(payload: dict[str, Any], key: str) -> Any:
    """payload[key], or MalformedFrame naming the missing key."""
    try:
        return payload[key]
    except (KeyError, TypeError):
        raise MalformedFrame(f"missing field {key!r}") from None


def mapping(value: Any, what: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else MalformedFrame (a list or string where an event belongs)."""
    if not isinstance(value, dict):
        raise MalformedFrame(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value
