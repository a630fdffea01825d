"""Binance USDⓈ-M payloads (WebSocket streams and REST) to storage rows.

Wire facts (reference/protocols.md §2): numbers are decimal strings, ids and times JSON integers;
unknown keys (`st`, `ps`, `nq`, ...) appear live and are ignored. Row layouts are those of
`cqt.store.tables`. Polled series describe a period that starts at `timestamp`: they are stored with
`ts` = period end (DESIGN §2); funding history and open interest are instants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cqt.collect.rows import MalformedFrame, Row, field, integer, ms_to_dt, num

EXCHANGE = "binance"

PERIOD_S = {"5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600,
            "12h": 43200, "1d": 86400}  # fmt: skip


def unwrap(frame: Any) -> tuple[str | None, Any]:
    """(stream name, payload) of a combined-stream envelope, or (None, frame) for a raw one."""
    if isinstance(frame, dict) and "stream" in frame and "data" in frame:
        return str(frame["stream"]), frame["data"]
    return None, frame


def agg_trade(p: dict[str, Any], recv_ts: datetime) -> Row:
    """aggTrade -> trades row. `m` true means the buyer was the maker, so the taker sold."""
    if p.get("e") != "aggTrade":
        raise MalformedFrame(f"expected an aggTrade event, got {p.get('e')!r}")
    return _trade_row(str(field(p, "s")), p, recv_ts)


def _trade_row(symbol: str, p: dict[str, Any], recv_ts: datetime) -> Row:
    maker_buy = field(p, "m")
    if not isinstance(maker_buy, bool):
        raise MalformedFrame(f"m: expected a boolean, got {maker_buy!r}")
    price, qty = num(field(p, "p"), "p"), num(field(p, "q"), "q")
    if not (price > 0 and qty > 0):
        raise MalformedFrame(f"non-positive price or qty: p={price} q={qty}")
    return (
        EXCHANGE,
        symbol,
        integer(field(p, "a"), "a"),
        ms_to_dt(integer(field(p, "T"), "T")),
        recv_ts,
        price,
        qty,
        -1 if maker_buy else 1,
    )


def rest_agg_trades(symbol: str, body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/aggTrades -> trades rows (same ids as the stream's `a`)."""
    if not isinstance(body, list):
        raise MalformedFrame("aggTrades: expected a JSON array")
    return [_trade_row(symbol, item, recv_ts) for item in body]


def book_ticker(p: dict[str, Any], recv_ts: datetime) -> Row:
    """bookTicker -> quotes row (seq = order-book update id `u`, ts = transaction time `T`)."""
    if p.get("e") != "bookTicker":
        raise MalformedFrame(f"expected a bookTicker event, got {p.get('e')!r}")
    ts_ms = p.get("T", p.get("E"))
    return (
        EXCHANGE,
        str(field(p, "s")),
        integer(field(p, "u"), "u"),
        ms_to_dt(integer(ts_ms, "T")),
        recv_ts,
        num(field(p, "b"), "b"),
        num(field(p, "B"), "B"),
        num(field(p, "a"), "a"),
        num(field(p, "A"), "A"),
    )


def mark_price(p: dict[str, Any], recv_ts: datetime) -> Row:
    """markPriceUpdate -> mark_price row (ts = event time `E`)."""
    if p.get("e") != "markPriceUpdate":
        raise MalformedFrame(f"expected a markPriceUpdate event, got {p.get('e')!r}")
    settle = p.get("P")
    return (
        EXCHANGE,
        str(field(p, "s")),
        ms_to_dt(integer(field(p, "E"), "E")),
        recv_ts,
        num(field(p, "p"), "p"),
        num(field(p, "i"), "i"),
        num(settle, "P") if settle not in (None, "") else None,
        num(field(p, "r"), "r"),
        ms_to_dt(integer(field(p, "T"), "T")),
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
        if item.get("e") != "forceOrder":
            raise MalformedFrame(f"expected a forceOrder event, got {item.get('e')!r}")
        o = field(item, "o")
        side = field(o, "S")
        if side not in ("BUY", "SELL"):
            raise MalformedFrame(f"o.S: expected BUY or SELL, got {side!r}")
        rows.append(
            (
                EXCHANGE,
                str(field(o, "s")),
                ms_to_dt(integer(field(o, "T"), "o.T")),
                recv_ts,
                side,
                num(field(o, "p"), "o.p"),
                num(field(o, "ap"), "o.ap"),
                num(field(o, "z"), "o.z"),
                str(field(o, "X")),
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
            str(field(body, "symbol")),
            "open_interest",
            integer(field(body, "time"), "time"),
            recv_ts,
            None,
            num(field(body, "openInterest"), "openInterest"),
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
        end_ms = integer(field(item, "timestamp"), "timestamp") + period_s * 1000
        for key, metric in PERIOD_SERIES[endpoint]:
            value = item.get(key)
            if value in (None, ""):
                continue
            rows.append(_metric(symbol, metric, end_ms, recv_ts, period_s, num(value, key)))
    return rows


def premium_index(body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/premiumIndex?symbol= -> premium of mark over index and the last funding rate."""
    symbol = str(field(body, "symbol"))
    ts_ms = integer(field(body, "time"), "time")
    mark = num(field(body, "markPrice"), "markPrice")
    index = num(field(body, "indexPrice"), "indexPrice")
    if index <= 0:
        raise MalformedFrame(f"indexPrice must be positive, got {index}")
    return [
        _metric(symbol, "premium_index", ts_ms, recv_ts, None, (mark - index) / index),
        _metric(
            symbol,
            "last_funding_rate",
            ts_ms,
            recv_ts,
            None,
            num(field(body, "lastFundingRate"), "lastFundingRate"),
        ),  # fmt: skip
    ]


def funding_history(body: Any, recv_ts: datetime) -> list[Row]:
    """GET /fapi/v1/fundingRate -> one realised funding rate per funding time."""
    if not isinstance(body, list):
        raise MalformedFrame("fundingRate: expected a JSON array")
    return [
        _metric(
            str(field(item, "symbol")),
            "funding_rate",
            integer(field(item, "fundingTime"), "fundingTime"),
            recv_ts,
            None,
            num(field(item, "fundingRate"), "fundingRate"),
        )
        for item in body
    ]
