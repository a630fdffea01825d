"""Upbit payloads (WebSocket DEFAULT/SIMPLE formats, REST trade ticks) to storage rows.

Wire facts (reference/protocols.md §1): frames are binary UTF-8 JSON; SIMPLE uses abbreviated keys;
`ask_bid` ASK means the taker sold; `sequential_id` is unique per trade but not ordered, so it is the
natural key and never an ordering; orderbook messages are full snapshots (no deltas).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cqt.collect.rows import MalformedFrame, Row, field, mapping, ms_to_dt
from cqt.collect.wire_values import book_top, epoch_ms, positive, text, wire_id, wire_time

EXCHANGE = "upbit"

# SIMPLE-format abbreviation -> DEFAULT key, for the fields the parsers read.
_SIMPLE = {
    "ty": "type", "cd": "code", "tp": "trade_price", "tv": "trade_volume", "ab": "ask_bid",
    "ttms": "trade_timestamp", "tms": "timestamp", "sid": "sequential_id", "st": "stream_type",
    "obu": "orderbook_units", "ap": "ask_price", "bp": "bid_price", "as": "ask_size", "bs": "bid_size",
    "tas": "total_ask_size", "tbs": "total_bid_size",
}  # fmt: skip


def normalise(payload: dict[str, Any]) -> dict[str, Any]:
    """DEFAULT keys for a DEFAULT or SIMPLE payload (SIMPLE is detected by its `ty` key)."""
    if "ty" not in mapping(payload, "message"):
        return payload
    out = {_SIMPLE.get(k, k): v for k, v in payload.items()}
    units = out.get("orderbook_units")
    if isinstance(units, list):
        out["orderbook_units"] = [
            {_SIMPLE.get(k, k): v for k, v in u.items()} if isinstance(u, dict) else u for u in units
        ]
    return out


def _side(ask_bid: Any) -> int:
    if ask_bid == "BID":
        return 1
    if ask_bid == "ASK":
        return -1
    raise MalformedFrame(f"ask_bid: expected ASK or BID, got {ask_bid!r}")


def _trade(market: str, p: dict[str, Any], ts_key: str, recv_ts: datetime) -> Row:
    return (
        EXCHANGE,
        market,
        wire_id(field(p, "sequential_id"), "sequential_id"),
        wire_time(field(p, ts_key), ts_key),
        recv_ts,
        positive(field(p, "trade_price"), "trade_price"),
        positive(field(p, "trade_volume"), "trade_volume"),
        _side(field(p, "ask_bid")),
    )


def trade(payload: dict[str, Any], recv_ts: datetime) -> Row:
    """WebSocket `trade` (DEFAULT or SIMPLE) -> trades row, clocked by `trade_timestamp`."""
    p = normalise(payload)
    if p.get("type") != "trade":
        raise MalformedFrame(f"expected a trade message, got type {p.get('type')!r}")
    return _trade(text(field(p, "code"), "code"), p, "trade_timestamp", recv_ts)


def rest_trades(market: str, body: Any, recv_ts: datetime) -> list[Row]:
    """GET /v1/trades/ticks (newest first) -> trades rows, clocked by `timestamp`."""
    if not isinstance(body, list):
        raise MalformedFrame("trades/ticks: expected a JSON array")
    return [_trade(market, mapping(item, "trade tick"), "timestamp", recv_ts) for item in body]


def orderbook_top(payload: dict[str, Any], recv_ts: datetime) -> Row:
    """WebSocket `orderbook` -> quotes row of the best level (seq = message timestamp in ms; see SnapshotSeq).

    The code may carry a depth suffix (`KRW-BTC.5`), which is not part of the market. Upbit pads a thin
    side with price-0 levels (an empty ask side reads `ask_price: 0`): those are no levels, so each side's
    best is its first level with a price; a side with none gives no quote.
    """
    p = normalise(payload)
    if p.get("type") != "orderbook":
        raise MalformedFrame(f"expected an orderbook message, got type {p.get('type')!r}")
    units = field(p, "orderbook_units")
    if not isinstance(units, list) or not units:
        raise MalformedFrame("orderbook_units: expected a non-empty list")
    ts_ms = epoch_ms(field(p, "timestamp"), "timestamp")
    bid_price, bid_size = _best(units, "bid")
    ask_price, ask_size = _best(units, "ask")
    book_top(bid_price, ask_price)
    return (
        EXCHANGE,
        text(field(p, "code"), "code").split(".", 1)[0],
        ts_ms,
        ms_to_dt(ts_ms),
        recv_ts,
        bid_price,
        bid_size,
        ask_price,
        ask_size,
    )


def _best(units: list[Any], side: str) -> tuple[float, float]:
    """(price, size) of the first level of `side` that is not a price-0 pad."""
    for unit in units:
        price = field(mapping(unit, "orderbook unit"), f"{side}_price")
        if not isinstance(price, bool) and price in (0, "0"):
            continue
        return positive(price, f"{side}_price"), positive(field(unit, f"{side}_size"), f"{side}_size")
    raise MalformedFrame(f"orderbook_units: no {side} level (all padded with price 0)", "book")


class SnapshotSeq:
    """Sequence numbers for Upbit order-book snapshots, which carry only a millisecond timestamp.

    Several different snapshots can share one millisecond; keyed by the timestamp alone, all but the
    first would be dropped by the natural key although the live bars saw them. Each distinct top of book
    within a millisecond gets `seq = ts_ms * 1000 + k` (k in arrival order); a repeated frame (the same
    content in the same millisecond) gets the same seq again, so duplicates are still absorbed.
    """

    def __init__(self) -> None:
        self._ms: dict[str, int] = {}
        self._seen: dict[str, list[tuple[Any, ...]]] = {}

    def number(self, row: Row) -> Row:
        """`row` (from `orderbook_top`) with its seq made unique within the millisecond."""
        market, ts_ms, content = row[1], int(row[2]), tuple(row[5:])
        if self._ms.get(market) != ts_ms:
            self._ms[market] = ts_ms
            self._seen[market] = []
        seen = self._seen[market]
        if content not in seen:
            seen.append(content)
        return (*row[:2], ts_ms * 1000 + seen.index(content), *row[3:])
