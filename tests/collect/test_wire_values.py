"""The wire rule itself: time units told by magnitude, the plausible window, strict numbers and ids."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from cqt.collect import wire_values as wv
from cqt.collect.rows import MalformedFrame

MS = 1_691_530_805_062


@pytest.mark.parametrize(
    ("raw", "ms"),
    [
        (MS // 1000, MS // 1000 * 1000),  # seconds (Coinglass, some REST answers)
        (MS, MS),
        (MS * 1000 + 999, MS),  # microseconds (Upbit 2023): the sub-millisecond part is dropped
        (MS * 1_000_000, MS),  # nanoseconds
        (str(MS), MS),
        (wv.EARLIEST_MS, wv.EARLIEST_MS),
    ],
)
def test_epoch_units_are_told_by_magnitude(raw: Any, ms: int) -> None:
    assert wv.epoch_ms(raw, "T") == ms


def test_the_window_ends_one_day_ahead() -> None:
    now_ms = time.time_ns() // 1_000_000
    assert wv.epoch_ms(now_ms + 86_400_000 - 60_000, "T") == now_ms + 86_400_000 - 60_000
    with pytest.raises(MalformedFrame, match="not within") as info:
        wv.epoch_ms(now_ms + 86_400_000 + 60_000, "T")
    assert info.value.kind == "time"
    with pytest.raises(MalformedFrame, match="not within"):
        wv.epoch_ms(wv.EARLIEST_MS - 1, "T")


@pytest.mark.parametrize("value", [None, "", 0, "0"])
def test_absent_optional_times_are_none(value: Any) -> None:
    assert wv.optional_time(value, "T") is None


def test_present_optional_time_follows_the_rule() -> None:
    assert wv.optional_time(MS, "T") == datetime(2023, 8, 8, 21, 40, 5, 62000, tzinfo=UTC)
    with pytest.raises(MalformedFrame):
        wv.optional_time(1, "T")
    with pytest.raises(MalformedFrame):
        wv.optional_time(False, "T")


@pytest.mark.parametrize("value", ["1_000", " 1", "0x10", "1.0", 1.0, True, None, [1], "9" * 5000])
def test_integers_are_strict(value: Any) -> None:
    with pytest.raises(MalformedFrame):
        wv.integer(value, "a")


@pytest.mark.parametrize(
    "value", ["1_000", " 1", "0x10", "", "1,5", True, None, {}, "Infinity", "nan", 10**400]
)
def test_numbers_are_strict(value: Any) -> None:
    with pytest.raises(MalformedFrame):
        wv.finite(value, "p")


def test_number_forms_venues_use_are_read() -> None:
    forms = ("0.0711500", "1e-5", "85299.90", 7, 103160000.0, ".5")
    assert [wv.positive(v, "p") for v in forms] == [0.07115, 1e-5, 85299.9, 7.0, 103160000.0, 0.5]
    assert wv.finite("-0.00002485", "r") == -0.00002485
    assert wv.optional_finite("", "r") is None and wv.optional_positive(None, "P") is None


def test_non_finite_values_are_counted_as_value_errors() -> None:
    for value in ("Infinity", float("nan"), "1e400", -1, 0):
        with pytest.raises(MalformedFrame) as info:
            wv.positive(value, "p")
        assert info.value.kind == "value", value


def test_ids_span_int8_exactly() -> None:
    assert wv.wire_id(0, "a") == 0 and wv.wire_id(2**63 - 1, "a") == 2**63 - 1
    for bad in (-1, 2**63):
        with pytest.raises(MalformedFrame, match="outside") as info:
            wv.wire_id(bad, "a")
        assert info.value.kind == "id"
