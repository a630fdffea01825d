"""The six ways real-world frames broke the collectors (issue 17), each through the parsers and the collectors'
frame path: nothing raises out of `_on_frame`, nothing invalid reaches the sink, valid oddities are read right.

These tests use only the parsers' and collectors' public shape (no new helper), so each of them can be run
against the code before the fix, where it fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cqt.collect import binance_parse as bn
from cqt.collect import coinglass_parse as cg
from cqt.collect import upbit_parse as up
from cqt.collect.binance_ws import BinanceWsCollector
from cqt.collect.gap_ledger import GapLedger
from cqt.collect.rows import MalformedFrame, Row, ms_to_dt
from cqt.collect.upbit_ws import UpbitWsCollector
from tests.collect.samples import sample

RECV = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
US = 1691530805062000  # the microsecond timestamp of a real 2023 Upbit frame (USDT-ETC)
US_AS_DT = datetime(2023, 8, 8, 21, 40, 5, 62000, tzinfo=UTC)
YEAR_10000_MS = 253402300800000
LIQ = "/api/futures/liquidation/history"


def binance(
    symbols: tuple[str, ...] = ("BTCUSDT",),
) -> tuple[BinanceWsCollector, list[tuple[str, list[Row]]]]:
    sunk: list[tuple[str, list[Row]]] = []
    collector = BinanceWsCollector(
        "ws://x", "ws://y", list(symbols), lambda t, r: sunk.append((t, r)), lambda s, g: None
    )
    return collector, sunk


def upbit(markets: tuple[str, ...] = ("KRW-BTC",)) -> tuple[UpbitWsCollector, list[tuple[str, list[Row]]]]:
    sunk: list[tuple[str, list[Row]]] = []
    collector = UpbitWsCollector(
        "ws://x", "http://x", list(markets), lambda t, r: sunk.append((t, r)), GapLedger(lambda t, r: None)
    )
    return collector, sunk


def envelope(stream: str, data: Any) -> str:
    return json.dumps({"stream": stream, "data": data})


def agg_trade(**changes: Any) -> dict[str, Any]:
    return {**sample("binance_aggTrade_raw_2026.json"), **changes}


def book_ticker(**changes: Any) -> dict[str, Any]:
    return {**sample("binance_bookTicker_raw_live_2026.json"), **changes}


def mark(**changes: Any) -> dict[str, Any]:
    return {**sample("binance_markPrice_combined_2026.json")["data"], **changes}


def force_order(**changes: Any) -> dict[str, Any]:
    raw = sample("binance_forceOrder_raw_live_2026.json")
    return {**raw, "o": {**raw["o"], **changes}}


def upbit_trade(**changes: Any) -> dict[str, Any]:
    return {**sample("upbit_trade.json"), **changes}


def upbit_book(**changes: Any) -> dict[str, Any]:
    return {**sample("upbit_orderbook.json"), **changes}


# ---- 1. microsecond Upbit times ------------------------------------------------------------------------
def test_upbit_microsecond_times_are_read_as_milliseconds_through_the_collector() -> None:
    collector, sunk = upbit(("KRW-BTC",))
    frames = [
        upbit_book(timestamp=US),
        upbit_trade(trade_timestamp=US, timestamp=US),
        {**sample("upbit_ticker.json"), "timestamp": US, "trade_timestamp": US},
    ]
    for frame in frames:
        collector._on_frame(json.dumps(frame).encode(), RECV)
    assert not collector.malformed
    (quotes, (quote,)), (trades, (trade,)) = sunk
    assert (quotes, quote[3], trades, trade[3]) == ("quotes", US_AS_DT, "trades", US_AS_DT)
    assert quote[2] == US // 1000 * 1000  # seq = the millisecond timestamp, numbered within it
    assert collector.last_event_ms == {"orderbook": US // 1000, "trade": US // 1000, "ticker": US // 1000}


def test_upbit_rest_tick_in_microseconds() -> None:
    tick = {**sample("upbit_rest_trades_ticks.json")[0], "timestamp": US}
    (row,) = up.rest_trades("KRW-BTC", [tick], RECV)
    assert row[3] == US_AS_DT


# ---- 2. times past year 9999, deep nesting ---------------------------------------------------------------
@pytest.mark.parametrize(
    "frame",
    [
        envelope("btcusdt@aggTrade", agg_trade(T=YEAR_10000_MS)),
        envelope("btcusdt@bookTicker", book_ticker(T=YEAR_10000_MS, E=YEAR_10000_MS)),
        envelope("btcusdt@markPrice@1s", mark(E=YEAR_10000_MS)),
        envelope("btcusdt@forceOrder", force_order(s="BTCUSDT", T=YEAR_10000_MS)),
        "[" * 100_000 + "]" * 100_000,
        '{"stream":"btcusdt@aggTrade","data":' + "[" * 50_000 + "]" * 50_000 + "}",
    ],
    ids=["aggTrade-T", "bookTicker-T", "markPrice-E", "forceOrder-o.T", "nested-array", "nested-in-envelope"],
)
def test_binance_frames_that_used_to_raise_are_counted_and_skipped(frame: str) -> None:
    collector, sunk = binance()
    collector._on_frame(frame, RECV)  # raised OverflowError / RecursionError out of the read loop
    assert sum(collector.malformed.values()) == 1 and sunk == []
    collector._on_frame(envelope("btcusdt@aggTrade", agg_trade()), RECV)  # and the next frame is read
    assert [t for t, _ in sunk] == ["trades"]


def test_upbit_year_10000_and_nesting_are_counted_and_skipped() -> None:
    collector, sunk = upbit()
    collector._on_frame(json.dumps(upbit_trade(trade_timestamp=YEAR_10000_MS)).encode(), RECV)
    collector._on_frame(b"[" * 100_000 + b"]" * 100_000, RECV)
    assert collector.malformed == {"trade": 1, "unparsed": 1} and sunk == []


# ---- 3. ids >= 2^63 are rejected at the parser -------------------------------------------------------------
@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (bn.agg_trade, agg_trade(a=2**63)),
        (bn.agg_trade, agg_trade(a=-1)),
        (bn.book_ticker, book_ticker(u=2**63)),
        (up.trade, upbit_trade(sequential_id=2**63)),
        (up.trade, upbit_trade(sequential_id=str(2**64))),
    ],
    ids=["aggTrade-2^63", "aggTrade-negative", "bookTicker-u", "upbit-sequential_id", "upbit-2^64-string"],
)
def test_ids_outside_int8_are_rejected(
    parse: Callable[[Any, datetime], Row], payload: dict[str, Any]
) -> None:
    with pytest.raises(MalformedFrame, match="outside"):
        parse(payload, RECV)


def test_largest_int8_id_is_accepted() -> None:
    assert bn.agg_trade(agg_trade(a=2**63 - 1), RECV)[2] == 2**63 - 1
    with pytest.raises(MalformedFrame, match="outside"):
        bn.rest_agg_trades("BTCUSDT", [agg_trade(a=2**63)], RECV)


# ---- 4. non-finite and impossible values, crossed and padded books, unsubscribed symbols -----------------
IMPOSSIBLE = ["Infinity", "1e400", "NaN", "-1.5", "0"]


@pytest.mark.parametrize("bad", IMPOSSIBLE)
@pytest.mark.parametrize(
    ("parse", "make"),
    [
        (bn.agg_trade, lambda v: agg_trade(p=v)),
        (bn.agg_trade, lambda v: agg_trade(q=v)),
        (bn.book_ticker, lambda v: book_ticker(b=v)),
        (bn.book_ticker, lambda v: book_ticker(A=v)),
        (bn.mark_price, lambda v: mark(p=v)),
        (bn.mark_price, lambda v: mark(i=v)),
        (lambda p, r: bn.force_orders(p, r)[0], lambda v: force_order(p=v)),
        (lambda p, r: bn.force_orders(p, r)[0], lambda v: force_order(z=v)),
        (up.trade, lambda v: upbit_trade(trade_price=float(v))),
        (up.trade, lambda v: upbit_trade(trade_volume=v)),
    ],
    ids=[
        "trade-p",
        "trade-q",
        "quote-b",
        "quote-A",
        "mark-p",
        "mark-i",
        "liq-p",
        "liq-z",
        "upbit-price",
        "upbit-volume",
    ],
)
def test_prices_and_sizes_must_be_finite_and_positive(
    parse: Callable[[Any, datetime], Row], make: Callable[[str], dict[str, Any]], bad: str
) -> None:
    with pytest.raises(MalformedFrame):
        parse(make(bad), RECV)


@pytest.mark.parametrize("bad", ["Infinity", "1e400", "NaN"])
def test_metrics_must_be_finite(bad: str) -> None:
    with pytest.raises(MalformedFrame):
        bn.open_interest({**sample("binance_openInterest.json"), "openInterest": bad}, RECV)
    with pytest.raises(MalformedFrame):
        bn.funding_history([{**sample("binance_fundingRate.json")[0], "fundingRate": bad}], RECV)
    with pytest.raises(MalformedFrame):
        bn.mark_price(mark(r=bad), RECV)
    body = sample("coinglass_liquidation_history_docs.json")
    body["data"][0]["long_liquidation_usd"] = bad
    with pytest.raises(MalformedFrame):
        cg.series_rows(LIQ, "BTCUSDT", "1d", body, RECV)


def test_crossed_books_are_rejected() -> None:
    with pytest.raises(MalformedFrame, match="crossed"):
        bn.book_ticker(book_ticker(b="84788.30", a="84788.20"), RECV)
    with pytest.raises(MalformedFrame, match="crossed"):
        bn.book_ticker(book_ticker(b="84788.30", a="84788.30"), RECV)
    units = sample("upbit_orderbook.json")["orderbook_units"]
    crossed = [{**units[0], "bid_price": units[0]["ask_price"] + 1000}, *units[1:]]
    with pytest.raises(MalformedFrame, match="crossed"):
        up.orderbook_top(upbit_book(orderbook_units=crossed), RECV)


def test_upbit_zero_padded_levels_are_skipped_and_an_empty_side_gives_no_quote() -> None:
    units = sample("upbit_orderbook.json")["orderbook_units"]
    # a thin ask side: levels 2.. padded with price 0 (as in a real KRW-DOT frame); the best level is intact
    thin = [u if i < 2 else {**u, "ask_price": 0.0, "ask_size": 0.0} for i, u in enumerate(units)]
    row = up.orderbook_top(upbit_book(orderbook_units=thin), RECV)
    assert (row[5], row[7]) == (units[0]["bid_price"], units[0]["ask_price"])
    empty_ask = [{**u, "ask_price": 0.0, "ask_size": 0.0} for u in units]
    with pytest.raises(MalformedFrame, match="no ask level"):
        up.orderbook_top(upbit_book(orderbook_units=empty_ask), RECV)
    collector, sunk = upbit()
    collector._on_frame(json.dumps(upbit_book(orderbook_units=empty_ask)).encode(), RECV)
    assert collector.malformed == {"orderbook": 1} and sunk == []  # never a best ask of 0


def test_rows_of_unsubscribed_symbols_are_rejected_and_counted() -> None:
    collector, sunk = binance(("BTCUSDT",))
    collector._on_frame(envelope("ethusdt@bookTicker", book_ticker(s="ETHUSDT")), RECV)
    collector._on_frame(envelope("ethusdt@markPrice@1s", mark(s="ETHUSDT")), RECV)
    collector._on_frame(envelope("ethusdt@forceOrder", force_order(s="ETHUSDT")), RECV)
    assert collector.malformed == {"bookTicker": 1, "markPrice@1s": 1, "forceOrder": 1} and sunk == []
    ucollector, usunk = upbit(("KRW-BTC",))
    ucollector._on_frame(json.dumps(upbit_book(code="KRW-ETH.5")).encode(), RECV)
    ucollector._on_frame(json.dumps({**sample("upbit_ticker.json"), "code": "KRW-ETH"}).encode(), RECV)
    assert ucollector.malformed == {"orderbook": 1, "ticker": 1} and usunk == []
    assert "ticker" not in ucollector.last_event_ms


# ---- 5. all-market stream names ----------------------------------------------------------------------------
def test_all_market_stream_names_are_read() -> None:
    collector, sunk = binance(("BTCUSDT", "MANTAUSDT"))
    collector._on_frame(envelope("!markPrice@arr@1s", [mark(), mark(s="MANTAUSDT")]), RECV)
    collector._on_frame(envelope("!forceOrder@arr", force_order()), RECV)
    assert not collector.malformed
    assert collector.messages == {"!markPrice@arr@1s": 1, "!forceOrder@arr": 1}
    assert [(t, [r[1] for r in rows]) for t, rows in sunk] == [
        ("mark_price", ["BTCUSDT", "MANTAUSDT"]),
        ("liquidations", ["MANTAUSDT"]),
    ]


def test_all_market_frame_keeps_subscribed_rows_only() -> None:
    collector, sunk = binance(("BTCUSDT",))
    collector._on_frame(envelope("!markPrice@arr@1s", [mark(), mark(s="ETHUSDT")]), RECV)
    assert [(t, [r[1] for r in rows]) for t, rows in sunk] == [("mark_price", ["BTCUSDT"])]
    assert collector.malformed == {"!markPrice@arr@1s": 1}  # the foreign row is counted, not stored


# ---- 6. T = 0 and "" as null; Coinglass seconds; implausible times -----------------------------------------
def test_delivery_contract_mark_price_has_no_funding() -> None:
    row = bn.mark_price(mark(T=0, r="", P=""), RECV)
    assert row[6:] == (None, None, None)  # est_settle_price, funding_rate, next_funding_ts
    # a real delivery-contract frame (BTCBUSD_210129, 2021): `r` "0.00000000" without a funding time
    assert bn.mark_price(mark(T=0, r="0.00000000"), RECV)[7:] == (None, None)
    assert bn.mark_price(mark(), RECV)[8] == datetime(2026, 9, 28, tzinfo=UTC)


def test_coinglass_time_in_seconds_is_recognised() -> None:
    body = sample("coinglass_funding_rate_history_docs.json")
    in_ms = cg.series_rows("/api/futures/funding-rate/history", "BTCUSDT", "1d", body, RECV)
    for item in body["data"]:
        item["time"] //= 1000
    in_s = cg.series_rows("/api/futures/funding-rate/history", "BTCUSDT", "1d", body, RECV)
    assert in_s == in_ms
    assert in_s[0][3] == ms_to_dt(1658880000000) + timedelta(days=1)


def test_coinglass_docs_example_in_2052_is_rejected() -> None:
    body = sample("coinglass_oi_history_docs.json")  # its `time` values are 2053 and 2052
    with pytest.raises(MalformedFrame, match="time"):
        cg.series_rows("/api/futures/open-interest/aggregated-history", "BTCUSDT", "1h", body, RECV)


@pytest.mark.parametrize("ts", [0, 1, 10**11, 1_230_767_999_999, 10**13, 10**19])
def test_implausible_trade_times_are_rejected(ts: int) -> None:
    with pytest.raises(MalformedFrame, match="time"):
        bn.agg_trade(agg_trade(T=ts), RECV)
    with pytest.raises(MalformedFrame, match="time"):
        up.trade(upbit_trade(trade_timestamp=ts), RECV)
