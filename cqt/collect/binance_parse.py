"""Binance USDⓈ-M payloads (WebSocket streams and REST) to storage rows.

Wire facts (reference/protocols.md §2): numbers are decimal strings, ids and times JSON integers;
unknown keys (`st`, `ps`, `nq`, ...) appear live and are ignored. Row layouts are those of
`cqt.store.tables`. Polled series describe a period that starts at `timestamp`: they are stored with
`ts` = period end (docs/design.md §2); funding history and open interest are instants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cqt.collect.rows import MalformedFrame, Row, field, mapping, ms_to_dt
from cqt.collect.wire_values import (
    book_top,
    epoch_ms,
    finite,
    optional_finite,
    optional_positive,
    optional_time,
    positive,
    text,
    wire_id,
    wire_time,
)

EXCHANGE = "binance"

PERIOD_S = {"5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600,
            "12h": 43200, "1d": 86400}  # fmt: skip


def unwrap(frame: Any) -> tuple[str | None, Any]:
    """(stream name, payload) of a combined-stream envelope, or (None, frame) for a raw one."""
    if isinstance(frame, dict) and "stream" in frame and "data" in frame:
        return str(frame["stream"]), frame["data"]
    return None, frame


def _event(p: Any, kind: str) -> dict[str, Any]:
    """`p` as an event object of type `kind` (its `e`)."""
    obj = mapping(p, kind)
    if obj.get("e") != kind:
        raise MalformedFrame(
            f"expected a{'n' if kind[0] in 'aeiou' else ''} {kind} event, got {obj.get('e')!r}"
        )
    return obj


def agg_trade(p: dict[str, Any], recv_ts: datetime) -> Row:
    """aggTrade -> trades row. `m` true means the buyer was the maker, so the taker sold."""
    p = _event(p, "aggTrade")
    return _trade_row(text(field(p, "s"), "s"), p, recv_ts)


def _trade_row(symbol: str, p: dict[str, Any], recv_ts: datetime) -> Row:
    p = mapping(p, "aggTrade")
    maker_buy = field(p, "m")
    if not isinstance(maker_buy, bool):
        raise MalformedFrame(f"m: expected a boolean, got {maker_buy!r}")
    return (
        EXCHANGE,
        symbol,
        wire_id(field(p, "a"), "a"),
        wire_time(field(p, "T"), "T"),
        recv_ts,
        positive(field(p, "p"), "p"),
        positive(field(p, "q"), "q"),
        -1 if maker_buy else 1,
    )


def rest_agg_trades(symbol: str, body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/aggTrades -> trades rows (same ids as the stream's `a`)."""
    if not isinstance(body, list):
        raise MalformedFrame("aggTrades: expected a JSON array")
    return [_trade_row(symbol, item, recv_ts) for item in body]


def book_ticker(p: dict[str, Any], recv_ts: datetime) -> Row:
    """bookTicker -> quotes row (seq = order-book update id `u`, ts = transaction time `T`)."""
    p = _event(p, "bookTicker")
    ts_ms = p.get("T", p.get("E"))
    bid, ask = positive(field(p, "b"), "b"), positive(field(p, "a"), "a")
    book_top(bid, ask)
    return (
        EXCHANGE,
        text(field(p, "s"), "s"),
        wire_id(field(p, "u"), "u"),
        wire_time(ts_ms, "T"),
        recv_ts,
        bid,
        positive(field(p, "B"), "B"),
        ask,
        positive(field(p, "A"), "A"),
    )


def mark_price(p: dict[str, Any], recv_ts: datetime) -> Row:
    """markPriceUpdate -> mark_price row (ts = event time `E`).

    Delivery contracts have no funding: their `T` is 0 and their `r` ("" or "0.00000000") means nothing, so
    both are stored as nulls (as cryptofeed gives None), never as a 0.0 rate due in 1970.
    """
    p = _event(p, "markPriceUpdate")
    next_funding = optional_time(field(p, "T"), "T")
    rate = optional_finite(field(p, "r"), "r")
    return (
        EXCHANGE,
        text(field(p, "s"), "s"),
        wire_time(field(p, "E"), "E"),
        recv_ts,
        positive(field(p, "p"), "p"),
        optional_positive(field(p, "i"), "i"),
        optional_positive(p.get("P"), "P"),
        None if next_funding is None else rate,
        next_funding,
    )


def mark_prices(data: Any, recv_ts: datetime) -> list[Row]:
    """`<s>@markPrice@1s` (one object) or `!markPrice@arr@1s` (an array of them)."""
    items = data if isinstance(data, list) else [data]
    return [mark_price(item, recv_ts) for item in items]


def force_orders(data: Any, recv_ts: datetime) -> list[Row]:
    """forceOrder -> liquidations rows. Live `!forceOrder@arr` frames carry one object; accept arrays too."""
    items = data if isinstance(data, list) else [data]
    rows = []
    for item in items:
        o = mapping(field(_event(item, "forceOrder"), "o"), "o")
        side = field(o, "S")
        if side not in ("BUY", "SELL"):
            raise MalformedFrame(f"o.S: expected BUY or SELL, got {side!r}")
        rows.append(
            (
                EXCHANGE,
                text(field(o, "s"), "o.s"),
                wire_time(field(o, "T"), "o.T"),
                recv_ts,
                side,
                positive(field(o, "p"), "o.p"),
                positive(field(o, "ap"), "o.ap"),
                positive(field(o, "z"), "o.z"),
                text(field(o, "X"), "o.X"),
            )
        )
    return rows


def _metric(
    symbol: str, metric: str, ts_ms: int, recv_ts: datetime, period_s: int | None, value: float
) -> Row:
    return ("binance", symbol, metric, ms_to_dt(ts_ms), recv_ts, period_s, value)


def open_interest(body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/openInterest -> the instantaneous open interest (contracts)."""
    return [
        _metric(
            text(field(body, "symbol"), "symbol"),
            "open_interest",
            epoch_ms(field(body, "time"), "time"),
            recv_ts,
            None,
            finite(field(body, "openInterest"), "openInterest"),
        )
    ]


# REST series polled per period: endpoint -> [(JSON field, metric name)]
PERIOD_SERIES: dict[str, list[tuple[str, str]]] = {
    "openInterestHist": [("sumOpenInterest", "oi_hist"), ("sumOpenInterestValue", "oi_hist_value")],
    "globalLongShortAccountRatio": [
        ("longShortRatio", "global_long_short_ratio"),
        ("longAccount", "global_long_account"),
        ("shortAccount", "global_short_account"),
    ],
    "takerlongshortRatio": [
        ("buySellRatio", "taker_buy_sell_ratio"),
        ("buyVol", "taker_buy_vol"),
        ("sellVol", "taker_sell_vol"),
    ],  # fmt: skip
    "basis": [("basis", "basis"), ("basisRate", "basis_rate"), ("annualizedBasisRate", "basis_annualized")],
}


def period_series(endpoint: str, symbol: str, period: str, body: Any, recv_ts: datetime) -> list[Row]:
    """/futures/data/<endpoint> rows -> metrics with ts = period end; empty strings are skipped."""
    if endpoint not in PERIOD_SERIES:
        raise ValueError(f"unknown period series {endpoint!r}")
    if period not in PERIOD_S:
        raise ValueError(f"unknown period {period!r}")
    if not isinstance(body, list):
        raise MalformedFrame(f"{endpoint}: expected a JSON array")
    period_s = PERIOD_S[period]
    rows = []
    for item in body:
        item = mapping(item, endpoint)
        end_ms = epoch_ms(field(item, "timestamp"), "timestamp") + period_s * 1000
        for key, metric in PERIOD_SERIES[endpoint]:
            value = optional_finite(item.get(key), key)
            if value is not None:
                rows.append(_metric(symbol, metric, end_ms, recv_ts, period_s, value))
    return rows


def premium_index(body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/premiumIndex?symbol= -> premium of mark over index and the last funding rate."""
    symbol = text(field(body, "symbol"), "symbol")
    ts_ms = epoch_ms(field(body, "time"), "time")
    mark = positive(field(body, "markPrice"), "markPrice")
    index = positive(field(body, "indexPrice"), "indexPrice")
    return [
        # finite inputs can still divide out of range (a huge mark over a tiny index)
        _metric(symbol, "premium_index", ts_ms, recv_ts, None, finite((mark - index) / index, "premium")),
        _metric(
            symbol,
            "last_funding_rate",
            ts_ms,
            recv_ts,
            None,
            finite(field(body, "lastFundingRate"), "lastFundingRate"),
        ),  # fmt: skip
    ]


def funding_history(body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/fundingRate -> one realised funding rate per funding time."""
    if not isinstance(body, list):
        raise MalformedFrame("fundingRate: expected a JSON array")
    return [
        _metric(
            text(field(item, "symbol"), "symbol"),
            "funding_rate",
            epoch_ms(field(item, "fundingTime"), "fundingTime"),
            recv_ts,
            None,
            finite(field(item, "fundingRate"), "fundingRate"),
        )
        for item in body
    ]
