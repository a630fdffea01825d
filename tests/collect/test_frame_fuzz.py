"""Fuzzing the frame path with mutated real payloads: whatever a frame holds (truncated, types swapped, huge,
NaN, negative numbers, fields added or missing, nesting), `_on_frame` returns, and every row that reaches the
sink (or that a REST parser returns) satisfies the wire rule. The rule is restated here, independently of
`cqt.collect.wire_values`, from the columns' meaning."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cqt.collect import binance_parse as bn
from cqt.collect import coinglass_parse as cg
from cqt.collect import upbit_parse as up
from cqt.collect.binance_ws import BinanceWsCollector
from cqt.collect.gap_ledger import GapLedger
from cqt.collect.rows import MalformedFrame, Row
from cqt.collect.upbit_ws import UpbitWsCollector
from tests.collect.samples import sample

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)
BINANCE_SYMBOLS = ("BTCUSDT", "CTKUSDT", "MANTAUSDT")
UPBIT_MARKETS = ("KRW-BTC", "KRW-LAMB")
RECV = datetime.now(UTC)


def _binance_seeds() -> list[Any]:
    combined = [
        "binance_aggTrade_combined_2021.json",
        "binance_markPrice_combined_2026.json",
        "binance_forceOrder_arr_combined_live_2026.json",
        "binance_forceOrder_symbol_combined_live_2026.json",
        "binance_bookTicker_combined_2021.json",
    ]
    raw = [
        ("btcusdt@aggTrade", "binance_aggTrade_raw_2026.json"),
        ("btcusdt@bookTicker", "binance_bookTicker_raw_live_2026.json"),
        ("!forceOrder@arr", "binance_forceOrder_raw_live_2026.json"),
        ("!markPrice@arr@1s", "binance_markPrice_docs.json"),
    ]
    return [sample(n) for n in combined] + [{"stream": s, "data": sample(n)} for s, n in raw]


BINANCE_SEEDS = _binance_seeds()
UPBIT_FILES = (
    "upbit_trade.json",
    "upbit_trade_simple.json",
    "upbit_orderbook.json",
    "upbit_orderbook_simple.json",
)
UPBIT_SEEDS = [sample(n) for n in (*UPBIT_FILES, "upbit_ticker.json")]
REST_SEEDS: list[tuple[Callable[[Any], list[Row]], Any]] = [
    (lambda b: bn.rest_agg_trades("BTCUSDT", b, RECV), sample("binance_aggTrades_rest.json")),
    (lambda b: up.rest_trades("KRW-BTC", b, RECV), sample("upbit_rest_trades_ticks.json")),
    (lambda b: bn.open_interest(b, RECV), sample("binance_openInterest.json")),
    (lambda b: bn.premium_index(b, RECV), sample("binance_premiumIndex_docs.json")),
    (lambda b: bn.funding_history(b, RECV), sample("binance_fundingRate.json")),
    (lambda b: bn.period_series("basis", "BTCUSDT", "5m", b, RECV), sample("binance_basis.json")),
    (
        lambda b: cg.series_rows("/api/futures/funding-rate/history", "BTCUSDT", "1d", b, RECV),
        sample("coinglass_funding_rate_history_docs.json"),
    ),
]
HOSTILE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 10**400, 1691530805062000, 253402300800000, 1658880000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["Infinity", "-Infinity", "NaN", "1e400", "-5", "0", "", "1_000", " 1", "0x10", "null"]),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.just([[[[[[[[1]]]]]]]]),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _replace(v, rest, new) if k == head else v for k, v in value.items()}
    return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> str:
    """A real frame with a few mutations, as the text a socket would deliver."""
    frame = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(_paths(frame)))
        how = draw(st.sampled_from(["set", "delete", "extra", "nest", "scale"]))
        target = _at(frame, path)
        if how == "set":
            frame = _replace(frame, path, draw(HOSTILE))
        elif how == "delete" and path:
            parent = _at(frame, path[:-1])
            if isinstance(parent, dict):
                frame = _replace(frame, path[:-1], {k: v for k, v in parent.items() if k != path[-1]})
        elif how == "extra" and isinstance(target, dict):
            frame = _replace(frame, path, {**target, draw(st.text(max_size=3)): draw(HOSTILE)})
        elif how == "nest":
            frame = _replace(frame, path, [target] if draw(st.booleans()) else {"x": target})
        elif how == "scale" and isinstance(target, int) and not isinstance(target, bool):
            frame = _replace(frame, path, target * draw(st.sampled_from([1000, -1, 10**6])))
    text = json.dumps(frame)
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.integers(0, 19)) == 0:
        text = "[" * 5000 + text + "]" * 5000
    return text


def _time_ok(ts: Any, slack: timedelta = timedelta(0)) -> bool:
    return isinstance(ts, datetime) and EARLIEST <= ts <= datetime.now(UTC) + timedelta(days=1) + slack


def _price(x: Any) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def _id(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**63


def assert_valid(table: str, row: Row, symbols: tuple[str, ...] | None) -> None:
    """The wire rule, per table."""
    assert symbols is None or row[1] in symbols, row
    if table == "trades":
        assert _id(row[2]) and _time_ok(row[3]) and _price(row[5]) and _price(row[6]) and row[7] in (1, -1), (
            row
        )
    elif table == "quotes":
        assert _id(row[2]) and _time_ok(row[3]) and all(_price(v) for v in row[5:9]) and row[5] < row[7], row
    elif table == "mark_price":
        _, _, ts, _, mark, index, settle, rate, next_ts = row
        assert _time_ok(ts) and _price(mark), row
        assert (index is None or _price(index)) and (settle is None or _price(settle)), row
        assert (rate is None or math.isfinite(rate)) and (next_ts is None or _time_ok(next_ts)), row
    elif table == "liquidations":
        assert _time_ok(row[2]) and row[4] in ("BUY", "SELL") and all(_price(v) for v in row[5:8]), row
        assert isinstance(row[8], str) and row[8], row
    elif table == "metrics":
        period = timedelta(seconds=row[5] or 0)
        assert _time_ok(row[3], period) and isinstance(row[6], float) and math.isfinite(row[6]), row
    else:
        raise AssertionError(f"unexpected table {table}")


@FUZZ
@given(st.lists(mutated(BINANCE_SEEDS), min_size=1, max_size=4))
def test_binance_on_frame_never_raises_and_emits_only_valid_rows(frames: list[str]) -> None:
    sunk: list[tuple[str, list[Row]]] = []
    collector = BinanceWsCollector(
        "ws://x", "ws://y", list(BINANCE_SYMBOLS), lambda t, r: sunk.append((t, r)), lambda s, g: None
    )
    for frame in frames:
        collector._on_frame(frame, RECV)
    for table, rows in sunk:
        for row in rows:
            assert_valid(table, row, BINANCE_SYMBOLS)
    assert len(frames) <= sum(collector.messages.values()) + sum(collector.malformed.values())
    assert all(0 <= ms < 2**63 for ms in collector.last_event_ms.values())


@FUZZ
@given(st.lists(mutated(UPBIT_SEEDS), min_size=1, max_size=4))
def test_upbit_on_frame_never_raises_and_emits_only_valid_rows(frames: list[str]) -> None:
    sunk: list[tuple[str, list[Row]]] = []
    collector = UpbitWsCollector(
        "ws://x",
        "http://x",
        list(UPBIT_MARKETS),
        lambda t, r: sunk.append((t, r)),
        GapLedger(lambda t, r: None),
    )
    for frame in frames:
        collector._on_frame(frame.encode(), RECV)
    for table, rows in sunk:
        for row in rows:
            assert_valid(table, row, UPBIT_MARKETS)
    # an event clock the status and lag metrics read: milliseconds, never micro- or nanoseconds
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert all(
        EARLIEST.timestamp() * 1000 <= ms <= now_ms + 86_400_000 for ms in collector.last_event_ms.values()
    )


@FUZZ
@given(st.sampled_from(range(len(REST_SEEDS))), st.data())
def test_rest_parsers_raise_only_malformed_frame_and_return_only_valid_rows(
    i: int, data: st.DataObject
) -> None:
    parse, seed = REST_SEEDS[i]
    text = data.draw(mutated([seed]))
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return  # the HTTP clients reject bodies that are not JSON before any parser sees them
    try:
        rows = parse(body)
    except MalformedFrame:
        return
    table = "trades" if i < 2 else "metrics"
    for row in rows:
        assert_valid(table, row, None)
