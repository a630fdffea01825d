"""Every real payload of the corpus through the collectors' frame path, checked against an independent reading.

The corpus is tests/data/real (its README names each file's public source and capture date) plus the
venues' samples in tests/data/protocols. WebSocket frames go through `_on_frame`, the entry the read
loop calls, one fresh collector per frame (so one frame's id or snapshot bookkeeping cannot change
another's outcome); REST answers go through the parse functions the pollers call. Each accepted row is
compared with values read here from the raw text: numbers as `decimal.Decimal` of the wire's digits
(the stored float must be the double nearest to them), epoch integers turned into UTC by the calendar
arithmetic below, not cqt's helpers. A payload is rejected only where `REJECTED` says so, for the
reason it names; every other one must be accepted and match.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cqt.collect import binance_parse as bp
from cqt.collect import coinglass_parse as cg
from cqt.collect import upbit_parse as up
from cqt.collect.binance_ws import BinanceWsCollector
from cqt.collect.gap_ledger import GapLedger
from cqt.collect.rows import Row
from cqt.collect.upbit_ws import UpbitWsCollector
from tests.collect.samples import SAMPLES
from tests.conftest import REPO_ROOT

REAL = REPO_ROOT / "tests" / "data" / "real"
RECV = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# What the collectors are subscribed to. Left out on purpose, so that their real frames test the rule
# that rows of unsubscribed symbols are rejected: BALUSDT (an all-market `!bookTicker`), IOTXUSDT (an
# all-market `!forceOrder@arr`) and the BTC-quoted Upbit markets of the 2021 capture.
BINANCE_SYMBOLS = (
    "BTCUSDT ETHUSDT SUSHIUSDT AKROUSDT KEEPUSDT CTKUSDT BNBUSDT XRPUSDT MANTAUSDT BTCUSDT_210625 BTCBUSD_210129"
).split()
UPBIT_MARKETS = "KRW-BTC KRW-LAMB KRW-WAVES KRW-DOT KRW-DOGE USDT-ETC USDT-BTC".split()

# Why a payload is rejected -> what the counted reason must say.
REASONS = {
    "unsubscribed": r"unsubscribed",
    "unexpected stream": r"unexpected (stream|message type)",
    "no envelope": r"not a combined-stream envelope",
    "error frame": r"error frame",
    "missing agg id": r"missing field 'a'",
    "missing index price": r"missing field 'i'",
    "implausible time": r"\btime\b.*(plausib|within|range)|(plausib|within|range).*\btime\b",
}

# (source, 1-based line in it) -> reason. A source is a file of tests/data/real or "protocols/<file>".
REJECTED: dict[tuple[str, int], str] = {
    # the 2021 capture also subscribed depth and klines, which cqt never asks for
    **{("cryptofeed_binance_futures_ws.jsonl", n): "unexpected stream" for n in (2, 3, 4, 5, 7, 9)},
    # the same capture's BTC-quoted Upbit markets
    **{("cryptofeed_upbit_ws.jsonl", n): "unsubscribed" for n in (14, 19, 21, 28, 45, 54, 58, 59, 69)},
    # tardis-node: a 2019 aggTrade without `a`, a 2019 markPrice without `i`, streams cqt does not read
    # (ticker, trade, depth, tardis' own generated snapshot and open interest)
    ("tardis_binance_futures_ws.jsonl", 1): "missing agg id",
    ("tardis_binance_futures_ws.jsonl", 3): "missing index price",
    **{("tardis_binance_futures_ws.jsonl", n): "unexpected stream" for n in (2, 4, 5, 6, 7, 8, 9, 11, 12)},
    ("crypto_msg_parser_binance_futures_ws.jsonl", 7): "unsubscribed",
    **{("crypto_msg_parser_binance_futures_ws.jsonl", n): "unexpected stream" for n in (5, 6, 9, 10)},
    # nautilus_trader's aggTrade fixture is stamped 1973 (T = 123456785): a placeholder, not a time
    ("nautilus_binance_futures_ws_payloads.jsonl", 1): "implausible time",
    ("protocols/binance_forceOrder_arr_combined_2021.json", 1): "unsubscribed",
    ("protocols/binance_depthUpdate_combined_2021.json", 1): "unexpected stream",
    ("protocols/binance_ws_error_unknown_method.json", 1): "no envelope",
    ("protocols/upbit_ws_error.json", 1): "error frame",
    # Coinglass' documentation example of open interest is stamped 2052-2053
    ("protocols/coinglass_oi_history_docs.json", 1): "implausible time",
}

# kind -> (payloads, accepted, rejected by reason): REJECTED and the corpus determine it; pinned so that
# a payload the loader skips, or a kind that loses its real examples, is noticed.
EXPECTED: dict[str, tuple[int, int, dict[str, int]]] = {
    "binance aggTrade": (97, 95, {"implausible time": 1, "missing agg id": 1}),
    "binance bookTicker": (68, 67, {"unsubscribed": 1}),
    "binance markPrice": (7, 6, {"missing index price": 1}),
    "binance markPrice@arr": (1, 1, {}),
    "binance forceOrder": (4, 4, {}),
    "binance forceOrder@arr": (2, 1, {"unsubscribed": 1}),
    "binance control or error": (2, 0, {"no envelope": 1}),
    "binance depth@100ms": (8, 0, {"unexpected stream": 8}),
    "binance depthSnapshot": (1, 0, {"unexpected stream": 1}),
    "binance kline_1M": (1, 0, {"unexpected stream": 1}),
    "binance kline_1m": (4, 0, {"unexpected stream": 4}),
    "binance openInterest": (1, 0, {"unexpected stream": 1}),
    "binance ticker": (2, 0, {"unexpected stream": 2}),
    "binance trade": (3, 0, {"unexpected stream": 3}),
    "binance REST aggTrades": (2, 2, {}),
    "binance REST basis": (1, 1, {}),
    "binance REST fundingRate": (2, 2, {}),
    "binance REST globalLongShortAccountRatio": (2, 2, {}),
    "binance REST openInterest": (4, 4, {}),
    "binance REST openInterestHist": (2, 2, {}),
    "binance REST premiumIndex": (2, 2, {}),
    "binance REST takerlongshortRatio": (2, 2, {}),
    "upbit trade": (66, 65, {"unsubscribed": 1}),
    "upbit orderbook": (41, 33, {"unsubscribed": 8}),
    "upbit ticker": (1, 1, {}),
    "upbit control or error": (2, 0, {"error frame": 1}),
    "upbit REST trades/ticks": (2, 2, {}),
    "coinglass funding-rate/history": (1, 1, {}),
    "coinglass global-long-short-account-ratio/history": (1, 1, {}),
    "coinglass liquidation/history": (2, 2, {}),
    # no real answer of this series is public: only the documentation's 2052-2053 example
    "coinglass open-interest/aggregated-history": (1, 0, {"implausible time": 1}),
}

# Coinglass error answers (HTTP 200, the status in the body): never ok, never rows.
COINGLASS_ERRORS = [
    "coinglass_error_bad_key_v4.json",
    "coinglass_error_missing_key_v2_v3.json",
    "coinglass_error_missing_key_v4.json",
    "coinglass_error_missing_key_v4_2025.json",
    "coinglass_error_upgrade_plan_v2_coinglassSecret.json",
    "coinglass_error_upgrade_plan_v4.json",
]

# The venues' samples that are WebSocket frames (raw `/ws` payloads are given the combined envelope).
PROTOCOL_BINANCE_WS = [
    "binance_aggTrade_combined_2021.json",
    "binance_aggTrade_raw_2026.json",
    "binance_bookTicker_combined_2021.json",
    "binance_bookTicker_raw_live_2026.json",
    "binance_markPrice_combined_2026.json",
    "binance_markPrice_docs.json",
    "binance_forceOrder_arr_combined_2021.json",
    "binance_forceOrder_arr_combined_live_2026.json",
    "binance_forceOrder_symbol_combined_live_2026.json",
    "binance_forceOrder_raw_live_2026.json",
    "binance_depthUpdate_combined_2021.json",
    "binance_ws_subscribe_response.json",
    "binance_ws_error_unknown_method.json",
]
PROTOCOL_UPBIT_WS = [
    "upbit_trade.json",
    "upbit_trade_docs_raw.json",
    "upbit_trade_simple.json",
    "upbit_orderbook.json",
    "upbit_orderbook_simple.json",
    "upbit_ticker.json",
    "upbit_ws_error.json",
    "upbit_ws_status_up.json",
]
# The venues' REST samples: file -> Binance endpoint; Coinglass: file -> (endpoint, bucket interval)
PROTOCOL_BINANCE_REST = {
    "binance_aggTrades_rest.json": "aggTrades",
    "binance_openInterest.json": "openInterest",
    "binance_openInterestHist.json": "openInterestHist",
    "binance_basis.json": "basis",
    "binance_globalLongShortAccountRatio.json": "globalLongShortAccountRatio",
    "binance_takerlongshortRatio.json": "takerlongshortRatio",
    "binance_fundingRate.json": "fundingRate",
    "binance_premiumIndex_docs.json": "premiumIndex",
}
PROTOCOL_COINGLASS = {
    "coinglass_oi_history_docs.json": ("/api/futures/open-interest/aggregated-history", "1d"),
    "coinglass_funding_rate_history_docs.json": ("/api/futures/funding-rate/history", "1d"),
    "coinglass_liquidation_history_docs.json": ("/api/futures/liquidation/history", "1d"),
    "coinglass_liquidation_history_v4_example_2023.json": ("/api/futures/liquidation/history", "1d"),
    "coinglass_global_long_short_account_ratio_docs.json": (
        "/api/futures/global-long-short-account-ratio/history",
        "1h",
    ),
}


# ---- the independent reading ---------------------------------------------------------------------
Expected = tuple[object, ...]  # a row; a `Near` in it stands for a float column
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def epoch_ms(value: Any) -> int:
    """A wire epoch integer in ms; µs recognised by magnitude (Upbit stamped some 2023 frames so)."""
    n = int(value)
    return n // 1000 if n >= 10**14 else n


def utc(value: Any) -> datetime:
    """A wire epoch integer as UTC, by calendar arithmetic."""
    days, in_day = divmod(epoch_ms(value), 86_400_000)
    seconds, millis = divmod(in_day, 1000)
    hours, rest = divmod(seconds, 3600)
    day = date.fromordinal(_EPOCH_ORDINAL + days)
    return datetime.combine(day, time(hours, rest // 60, rest % 60, millis * 1000), tzinfo=UTC)


def dec(value: Any) -> Decimal:
    """A wire number exactly: a JSON number read as Decimal, or a decimal string."""
    assert isinstance(value, str | int | Decimal) and not isinstance(value, bool), value
    return Decimal(value)


@dataclass(frozen=True)
class Near:
    """A float equal to `want`, or within `rel` of it."""

    want: float
    rel: float = 0.0

    def __call__(self, got: object) -> bool:
        return isinstance(got, float) and (got == self.want or math.isclose(got, self.want, rel_tol=self.rel))

    def __repr__(self) -> str:
        return f"~{self.want!r}" if self.rel else repr(self.want)


def exact(value: Any) -> Near:
    """The double nearest to the wire's decimal digits: what a float8 column can hold of them."""
    return Near(float(dec(value)))


def raw(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


def matches(got: Row, want: Expected) -> bool:
    return len(got) == len(want) and all(
        w(g) if isinstance(w, Near) else (g == w and type(g) is type(w))
        for g, w in zip(got, want, strict=True)
    )


def binance_rows(kind: str, item: dict[str, Any]) -> tuple[str, Expected]:
    """(table, expected row) of one Binance stream payload."""
    if kind == "aggTrade":
        side = -1 if item["m"] else 1  # the buyer was the maker: the taker sold
        return "trades", (
            *("binance", item["s"], int(item["a"]), utc(item["T"]), RECV),
            *(exact(item["p"]), exact(item["q"]), side),
        )
    if kind == "bookTicker":
        return "quotes", (
            *("binance", item["s"], int(item["u"]), utc(item.get("T", item["E"])), RECV),
            *(exact(item["b"]), exact(item["B"]), exact(item["a"]), exact(item["A"])),
        )
    if kind == "markPrice":
        # a delivery contract has no funding: `T` is 0 and its `r` means nothing (cryptofeed gives None too)
        funded = int(item["T"]) > 0
        settle = item.get("P")
        return "mark_price", (
            *("binance", item["s"], utc(item["E"]), RECV, exact(item["p"]), exact(item["i"])),
            exact(settle) if settle not in (None, "") else None,
            exact(item["r"]) if funded and item["r"] != "" else None,
            utc(item["T"]) if funded else None,
        )
    assert kind == "forceOrder", kind
    o = item["o"]
    return "liquidations", (
        *("binance", o["s"], utc(o["T"]), RECV, o["S"]),
        *(exact(o["p"]), exact(o["ap"]), exact(o["z"]), o["X"]),
    )


# Upbit's SIMPLE format abbreviates the keys (docs.upbit.com, "SIMPLE 포맷"); DEFAULT keys are kept.
SIMPLE_KEYS = {
    "ty": "type",
    "cd": "code",
    "tp": "trade_price",
    "tv": "trade_volume",
    "ab": "ask_bid",
    "ttms": "trade_timestamp",
    "tms": "timestamp",
    "sid": "sequential_id",
    "obu": "orderbook_units",
    "ap": "ask_price",
    "bp": "bid_price",
    "as": "ask_size",
    "bs": "bid_size",
}


def default_keys(p: dict[str, Any]) -> dict[str, Any]:
    out = {SIMPLE_KEYS.get(k, k): v for k, v in p.items()}
    if isinstance(out.get("orderbook_units"), list):
        out["orderbook_units"] = [
            {SIMPLE_KEYS.get(k, k): v for k, v in u.items()} for u in out["orderbook_units"]
        ]
    return out


def best(units: list[dict[str, Any]], side: str) -> tuple[Decimal, Decimal]:
    """The best level of one side: Upbit pads a thin book with price-0 levels, which are no level."""
    level = next(u for u in units if dec(u[f"{side}_price"]) > 0)
    return level[f"{side}_price"], level[f"{side}_size"]


def upbit_rows(p: dict[str, Any]) -> tuple[str, Expected]:
    """(table, expected row) of one Upbit trade or orderbook message."""
    if p["type"] == "trade":
        return "trades", (
            *("upbit", p["code"], int(p["sequential_id"]), utc(p["trade_timestamp"]), RECV),
            *(exact(p["trade_price"]), exact(p["trade_volume"]), 1 if p["ask_bid"] == "BID" else -1),
        )
    bid, bid_size = best(p["orderbook_units"], "bid")
    ask, ask_size = best(p["orderbook_units"], "ask")
    # seq = ms * 1000 + k, k = 0 for the first snapshot of its millisecond (one per fresh collector)
    seq = epoch_ms(p["timestamp"]) * 1000
    return "quotes", (
        *("upbit", p["code"].split(".")[0], seq, utc(p["timestamp"]), RECV),
        *(exact(bid), exact(bid_size), exact(ask), exact(ask_size)),
    )


def metric(venue: str, symbol: str, name: str, ts_ms: int, period_s: int | None, value: Any) -> Expected:
    return (venue, symbol, name, utc(ts_ms), RECV, period_s, exact(value))


def binance_series(endpoint: str, body: Any) -> list[Expected]:
    """Period series rows, stamped at the period's end (5 minutes after `timestamp`)."""
    return [
        metric("binance", "BTCUSDT", name, int(item["timestamp"]) + 300_000, 300, item[key])
        for item in body
        for key, name in bp.PERIOD_SERIES[endpoint]
        if item.get(key) != ""
    ]


def binance_premium(body: Any) -> list[Expected]:
    mark, index = dec(body["markPrice"]), dec(body["indexPrice"])
    # the parser divides floats: its quotient may differ from the exact one in the last bits
    premium = Near(float((mark - index) / index), rel=1e-12)
    return [
        ("binance", body["symbol"], "premium_index", utc(body["time"]), RECV, None, premium),
        metric("binance", body["symbol"], "last_funding_rate", body["time"], None, body["lastFundingRate"]),
    ]


Parse = Callable[[Any, datetime], list[Row]]
Reading = Callable[[Any], list[Expected]]


def binance_answer(endpoint: str) -> tuple[Parse, Reading]:
    """The parse the poller calls for `endpoint` (symbol BTCUSDT, period 5m) and the independent reading."""
    if endpoint == "aggTrades":
        return partial(bp.rest_agg_trades, "BTCUSDT"), lambda body: [
            binance_rows("aggTrade", {**t, "s": "BTCUSDT"})[1] for t in body
        ]
    if endpoint == "openInterest":
        return bp.open_interest, lambda b: [
            metric("binance", b["symbol"], "open_interest", b["time"], None, b["openInterest"])
        ]
    if endpoint == "fundingRate":
        return bp.funding_history, lambda body: [
            metric("binance", t["symbol"], "funding_rate", t["fundingTime"], None, t["fundingRate"])
            for t in body
        ]
    if endpoint == "premiumIndex":
        return bp.premium_index, binance_premium
    return partial(bp.period_series, endpoint, "BTCUSDT", "5m"), partial(binance_series, endpoint)


def upbit_ticks(market: str, body: Any) -> list[Expected]:
    return [
        upbit_rows({**t, "type": "trade", "code": market, "trade_timestamp": t["timestamp"]})[1] for t in body
    ]


def coinglass_parse(endpoint: str, interval: str, body: Any, recv: datetime) -> list[Row]:
    """What the poller does with an HTTP 200 answer: rows only when the body's code says ok."""
    outcome = cg.outcome(200, body)
    assert outcome.ok, outcome.error
    return cg.series_rows(endpoint, "BTCUSDT", interval, body, recv)


def coinglass_rows(endpoint: str, interval: str, body: Any) -> list[Expected]:
    """Bucket rows, stamped at the bucket's end."""
    period_s = cg.INTERVAL_S[interval]
    return [
        metric("coinglass", "BTCUSDT", name, int(item["time"]) + period_s * 1000, period_s, item[key])
        for item in body["data"]
        for key, name in cg.SERIES[endpoint]
        if item.get(key) not in (None, "")
    ]


# ---- the corpus ----------------------------------------------------------------------------------
@dataclass
class Frame:
    source: str
    line: int
    venue: str
    kind: str
    data: str | bytes


@dataclass
class Answer:
    """A REST answer: `body` as the client decodes it, `exact_body` with the wire's decimals kept."""

    source: str
    line: int
    kind: str
    table: str
    parse: Parse
    reading: Reading
    body: Any
    exact_body: Any


STREAM_OF_EVENT = {
    "aggTrade": "aggTrade",
    "bookTicker": "bookTicker",
    "markPriceUpdate": "markPrice@1s",
    "forceOrder": "forceOrder",
}


def enveloped(payload_text: str) -> str:
    """A raw (`/ws`) payload in the combined-stream envelope cqt's subscription delivers it in."""
    p = json.loads(payload_text)
    symbol = p["o"]["s"] if p["e"] == "forceOrder" else p["s"]
    return json.dumps({"stream": f"{symbol.lower()}@{STREAM_OF_EVENT[p['e']]}", "data": p})


def binance_kind(text: str) -> str:
    frame = json.loads(text)
    if "stream" not in frame:
        return "control or error"
    name: str = frame["stream"]
    kind = name[1:] if name.startswith("!") else name.split("@", 1)[1]
    return {"markPrice@1s": "markPrice", "markPrice@arr@1s": "markPrice@arr"}.get(kind, kind)


def upbit_kind(data: str | bytes) -> str:
    kind = default_keys(json.loads(data)).get("type")
    return kind if kind in ("trade", "orderbook", "ticker") else "control or error"


def lines(path: Path) -> Iterator[tuple[int, str]]:
    yield from enumerate(path.read_text().splitlines(), 1)


def ws_frames() -> list[Frame]:
    frames: list[Frame] = []
    for name in (
        "cryptofeed_binance_futures_ws.jsonl",
        "tardis_binance_futures_ws.jsonl",
        "crypto_msg_parser_binance_futures_ws.jsonl",
    ):
        frames += [Frame(name, n, "binance", binance_kind(t), t) for n, t in lines(REAL / name)]
    name = "nautilus_binance_futures_ws_payloads.jsonl"
    for n, payload in lines(REAL / name):
        text = enveloped(payload)
        frames.append(Frame(name, n, "binance", binance_kind(text), text))
    for name in ("cryptofeed_upbit_ws.jsonl", "tardis_upbit_ws.jsonl"):
        frames += [Frame(name, n, "upbit", upbit_kind(t), t.encode()) for n, t in lines(REAL / name)]
    for name in PROTOCOL_BINANCE_WS:
        text = (SAMPLES / name).read_text()
        text = text if '"stream"' in text or '"e"' not in text else enveloped(text)
        frames.append(Frame(f"protocols/{name}", 1, "binance", binance_kind(text), text))
    for name in PROTOCOL_UPBIT_WS:
        data = (SAMPLES / name).read_bytes()
        frames.append(Frame(f"protocols/{name}", 1, "upbit", upbit_kind(data), data))
    return frames


def rest_answers() -> list[Answer]:
    out: list[Answer] = []
    for name in ("nautilus_binance_futures_rest.jsonl", "crypto_msg_parser_binance_futures_rest.jsonl"):
        for n, text in lines(REAL / name):
            call = json.loads(text)
            out.append(binance_rest(name, n, call["endpoint"], call["body"], raw(text)["body"]))
    for name, endpoint in PROTOCOL_BINANCE_REST.items():
        text = (SAMPLES / name).read_text()
        out.append(binance_rest(f"protocols/{name}", 1, endpoint, json.loads(text), raw(text)))
    text = (SAMPLES / "upbit_rest_trades_ticks.json").read_text()
    out.append(
        upbit_rest("protocols/upbit_rest_trades_ticks.json", 1, "KRW-BTC", json.loads(text), raw(text))
    )
    for n, text in lines(REAL / "ccxt_upbit_rest.jsonl"):
        call = json.loads(text)
        out.append(upbit_rest("ccxt_upbit_rest.jsonl", n, call["market"], call["body"], raw(text)["body"]))
    for name, (endpoint, interval) in PROTOCOL_COINGLASS.items():
        text = (SAMPLES / name).read_text()
        kind = f"coinglass {endpoint.removeprefix('/api/futures/')}"
        parse, reading = (
            partial(coinglass_parse, endpoint, interval),
            partial(coinglass_rows, endpoint, interval),
        )
        out.append(
            Answer(f"protocols/{name}", 1, kind, "metrics", parse, reading, json.loads(text), raw(text))
        )
    return out


def binance_rest(source: str, line: int, endpoint: str, body: Any, exact_body: Any) -> Answer:
    parse, reading = binance_answer(endpoint)
    table = "trades" if endpoint == "aggTrades" else "metrics"
    return Answer(source, line, f"binance REST {endpoint}", table, parse, reading, body, exact_body)


def upbit_rest(source: str, line: int, market: str, body: Any, exact_body: Any) -> Answer:
    parse, reading = partial(up.rest_trades, market), partial(upbit_ticks, market)
    return Answer(source, line, "upbit REST trades/ticks", "trades", parse, reading, body, exact_body)


# ---- pushing it through --------------------------------------------------------------------------
@dataclass
class Tally:
    payloads: int = 0
    accepted: int = 0
    matched: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: int = 0  # control frames (a subscription reply, a status answer): neither stored nor counted bad


def rejected_as_expected(
    where: str, reason: str | None, counted: str, tally: Tally, problems: list[str]
) -> None:
    tally.rejected[reason or "NOT EXPECTED"] += 1
    if reason is None:
        problems.append(f"{where}: rejected ({counted.strip()}), expected accepted")
    elif re.search(REASONS[reason], counted) is None:
        problems.append(f"{where}: rejected for {counted.strip()!r}, expected {reason}")


def compare(
    where: str,
    got: list[tuple[str, Row]],
    want: list[tuple[str, Expected]],
    tally: Tally,
    problems: list[str],
) -> None:
    tally.accepted += 1
    ok = len(got) == len(want) and all(
        gt == wt and matches(g, w) for (gt, g), (wt, w) in zip(got, want, strict=True)
    )
    tally.matched += ok
    if not ok:
        problems.append(f"{where}: stored {got}, independent reading {want}")


def check_frame(frame: Frame, tally: Tally, caplog: pytest.LogCaptureFixture, problems: list[str]) -> None:
    where = f"{frame.source}:{frame.line} ({frame.venue} {frame.kind})"
    sunk: list[tuple[str, Row]] = []

    def sink(table: str, rows: list[Row]) -> None:
        sunk.extend((table, row) for row in rows)

    collector: BinanceWsCollector | UpbitWsCollector
    if frame.venue == "binance":
        collector = BinanceWsCollector("ws://x", "ws://x", BINANCE_SYMBOLS, sink, lambda s, g: None)
    else:
        collector = UpbitWsCollector("ws://x", "http://x", UPBIT_MARKETS, sink, GapLedger(lambda t, r: None))
    caplog.clear()
    tally.payloads += 1
    try:
        collector._on_frame(frame.data, RECV)
    except Exception as exc:  # would end the read loop: the frame is neither stored nor counted
        problems.append(f"{where}: {type(exc).__name__} escaped the frame handler: {exc}")
        return
    reason = REJECTED.get((frame.source, frame.line))
    if sum(collector.malformed.values()):
        rejected_as_expected(where, reason, caplog.text, tally, problems)
        if sunk:
            problems.append(f"{where}: rejected, yet stored {sunk}")
        return
    if reason is not None:
        problems.append(f"{where}: accepted ({sunk}), expected rejected: {reason}")
        return
    payload = raw(frame.data)
    if frame.kind == "control or error":
        tally.ignored += 1
        if sunk:
            problems.append(f"{where}: a control frame stored {sunk}")
        return
    if frame.kind == "ticker":  # no table holds tickers: only their event time is kept, as the stream's clock
        tally.accepted += 1
        ok = not sunk and collector.last_event_ms.get("ticker") == epoch_ms(payload["timestamp"])
        tally.matched += ok
        if not ok:
            problems.append(f"{where}: stored {sunk}, last_event_ms {collector.last_event_ms}")
        return
    if frame.venue == "binance":
        data = payload["data"]
        want = [
            binance_rows(frame.kind.split("@", 1)[0], item)
            for item in (data if isinstance(data, list) else [data])
        ]
    else:
        want = [upbit_rows(default_keys(payload))]
    compare(where, sunk, want, tally, problems)


def check_answer(answer: Answer, tally: Tally, problems: list[str]) -> None:
    where = f"{answer.source}:{answer.line} ({answer.kind})"
    reason = REJECTED.get((answer.source, answer.line))
    tally.payloads += 1
    try:
        rows = answer.parse(answer.body, RECV)
    except Exception as exc:  # the pollers count any exception of a parse as a failed call
        rejected_as_expected(where, reason, f"{type(exc).__name__}: {exc}", tally, problems)
        return
    if reason is not None:
        problems.append(f"{where}: accepted ({rows}), expected rejected: {reason}")
        return
    want = [(answer.table, w) for w in answer.reading(answer.exact_body)]
    compare(where, [(answer.table, r) for r in rows], want, tally, problems)


def report(tallies: dict[str, Tally]) -> str:
    out = [f"{'kind':50} {'payloads':>8} {'accepted':>8} {'matches':>7}  rejected by reason"]
    for kind in sorted(tallies):
        t = tallies[kind]
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(t.rejected.items())) or "-"
        if t.ignored:
            reasons += f"; {t.ignored} control frame ignored"
        out.append(f"{kind:50} {t.payloads:>8} {t.accepted:>8} {t.matched:>7}  {reasons}")
    return "\n".join(out)


def test_every_real_payload_is_stored_as_read_or_rejected_for_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    tallies: dict[str, Tally] = defaultdict(Tally)
    problems: list[str] = []
    frames, answers = ws_frames(), rest_answers()
    for frame in frames:
        check_frame(frame, tallies[f"{frame.venue} {frame.kind}"], caplog, problems)
    for answer in answers:
        check_answer(answer, tallies[answer.kind], problems)
    print("\n" + report(tallies))
    assert not problems, "\n".join(problems)
    listed = {(f.source, f.line) for f in frames} | {(a.source, a.line) for a in answers}
    assert set(REJECTED) <= listed, set(REJECTED) - listed
    got = {k: (t.payloads, t.accepted, dict(t.rejected)) for k, t in tallies.items()}
    assert got == EXPECTED
    assert all(t.matched == t.accepted for t in tallies.values())


@pytest.mark.parametrize("name", COINGLASS_ERRORS)
def test_coinglass_error_answers_are_failed_calls_without_rows(name: str) -> None:
    body = json.loads((SAMPLES / name).read_text())
    outcome = cg.outcome(200, body)
    assert (outcome.ok, outcome.http_status, outcome.body_code) == (False, 200, body["code"])
    assert body["msg"] in (outcome.error or "")
