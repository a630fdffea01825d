"""Slow, obvious pure-Python references for the Rust bar and label kernels.

Plain loops over lists and dicts, written from docs/design.md §3/§4 and the rules documented in
``core_rs/src``; no numpy. Sums run in input order, like the kernel, so results compare exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Trade = tuple[int, int, float, float, bool]  # symbol, ts, price, qty, taker_buy
Quote = tuple[int, int, float, float, float, float]  # symbol, ts, bid, bid_qty, ask, ask_qty
Gap = tuple[int, int, int]  # symbol, start, end (exclusive)
Row = dict[str, float | int | bool]

NAN = float("nan")


def bar_end(ts: int) -> int:
    """End of the one-second bar holding an event at ``ts``."""
    return (ts // 1000) * 1000 + 1000


def trade_fields(trades: list[tuple[int, int, Trade]]) -> Row:
    """Trade fields of one bar from (ts, input position, trade) in input order."""
    ordered = sorted(trades, key=lambda t: (t[0], t[1]))
    volume = notional = buy = sell = 0.0
    for _, _, (_, _, price, qty, taker_buy) in trades:
        volume += qty
        notional += price * qty
        if taker_buy:
            buy += qty
        else:
            sell += qty
    prices = [t[2][2] for t in trades]
    return {
        "open": ordered[0][2][2],
        "high": max(prices),
        "low": min(prices),
        "close": ordered[-1][2][2],
        "volume": volume,
        "notional": notional,
        "vwap": notional / volume,
        "buy_volume": buy,
        "sell_volume": sell,
        "n_trades": len(trades),
        "first_trade_ts": ordered[0][0],
        "last_trade_ts": ordered[-1][0],
    }


def reference_bars(
    trades: list[Trade], quotes: list[Quote] | None = None, gaps: list[Gap] | None = None
) -> dict[tuple[int, int], Row]:
    """Bars keyed by (symbol, ts) with every second between a symbol's first and last bar."""
    by_bar: dict[tuple[int, int], list[tuple[int, int, Trade]]] = {}
    for pos, t in enumerate(trades):
        by_bar.setdefault((t[0], bar_end(t[1])), []).append((t[1], pos, t))
    quotes_by_bar: dict[tuple[int, int], list[tuple[int, int, Quote]]] = {}
    for pos, q in enumerate(quotes or []):
        quotes_by_bar.setdefault((q[0], bar_end(q[1])), []).append((q[1], pos, q))
    symbols = sorted({k[0] for k in by_bar} | {k[0] for k in quotes_by_bar})
    out: dict[tuple[int, int], Row] = {}
    for sym in symbols:
        ends = [k[1] for k in by_bar if k[0] == sym] + [k[1] for k in quotes_by_bar if k[0] == sym]
        close = NAN
        book = (NAN, NAN, NAN, NAN)  # bid, bid_qty, ask, ask_qty
        for end in range(min(ends), max(ends) + 1000, 1000):
            row: Row
            if (sym, end) in by_bar:
                row = trade_fields(by_bar[(sym, end)])
                close = float(row["close"])
                row["stale"] = False
            else:
                row = {"open": close, "high": close, "low": close, "close": close}
                row |= {"volume": 0.0, "notional": 0.0, "vwap": NAN, "buy_volume": 0.0, "sell_volume": 0.0}
                row |= {"n_trades": 0, "first_trade_ts": -1, "last_trade_ts": -1, "stale": True}
            if quotes is not None:
                row |= quote_fields(quotes_by_bar.get((sym, end), []), book)
                book = (
                    float(row["bid_close"]),
                    row_qty(row, "bid"),
                    float(row["ask_close"]),
                    row_qty(row, "ask"),
                )
            row["gap"] = any(g[0] == sym and g[1] < end and end - 1000 < g[2] for g in gaps or [])
            out[(sym, end)] = row
    return out


def row_qty(row: Row, side: str) -> float:
    """Close quantity kept in a private field of a quote row."""
    return float(row[f"_{side}_qty"])


def quote_fields(updates: list[tuple[int, int, Quote]], book: tuple[float, float, float, float]) -> Row:
    """Quote fields of one bar from its updates (input order) and the book carried into it."""
    if updates:
        ordered = sorted(updates, key=lambda u: (u[0], u[1]))
        bids = [u[2][2] for u in updates]
        asks = [u[2][4] for u in updates]
        last = ordered[-1][2]
        bid, bid_qty, ask, ask_qty = last[2], last[3], last[4], last[5]
        row: Row = {"bid_open": ordered[0][2][2], "bid_high": max(bids), "bid_low": min(bids)}
        row |= {"ask_open": ordered[0][2][4], "ask_high": max(asks), "ask_low": min(asks)}
    else:
        bid, bid_qty, ask, ask_qty = book
        row = {
            "bid_open": bid,
            "bid_high": bid,
            "bid_low": bid,
            "ask_open": ask,
            "ask_high": ask,
            "ask_low": ask,
        }
    mid = 0.5 * (bid + ask)
    depth = bid_qty + ask_qty
    row |= {"bid_close": bid, "ask_close": ask, "mid": mid, "spread_bps": 10_000.0 * (ask - bid) / mid}
    row |= {"imbalance": (bid_qty - ask_qty) / depth if depth > 0 else NAN, "n_quotes": len(updates)}
    row |= {"_bid_qty": bid_qty, "_ask_qty": ask_qty}
    return row


def stream_drops(events: list[tuple[int, int]], grace_ms: int, lateness_ms: int) -> list[bool]:
    """For (symbol, ts) events in arrival order: True where the streaming rules drop the event
    (its bar end + lateness is at or before the watermark = max ts seen so far - grace)."""
    max_ts: int | None = None
    dropped = []
    for _, ts in events:
        late = max_ts is not None and bar_end(ts) + lateness_ms <= max_ts - grace_ms
        dropped.append(late)
        if not late:
            max_ts = ts if max_ts is None else max(max_ts, ts)
    return dropped


@dataclass(frozen=True)
class Bar:
    """One input row of the label reference."""

    symbol: int
    ts: int
    close: float
    high: float
    low: float
    gap: bool
    spread_bps: float


@dataclass(frozen=True)
class LabelSpec:
    """Label parameters; ``r_fixed`` set means a fixed threshold."""

    horizon_s: int
    kind: str
    r_fixed: float | None
    window_s: int = 10
    min_returns: int = 1
    k: float = 1.0
    r_min: float = 0.0
    r_max: float = 0.05
    cost_mult: float = 1.0
    fee: float = 0.0
    slippage: float = 0.0
    use_spread: bool = True


def median(values: list[float]) -> float:
    """Median with the mean of the two middle values for an even count."""
    s = sorted(values)
    m = len(s)
    return s[m // 2] if m % 2 == 1 else (s[m // 2 - 1] + s[m // 2]) / 2.0


def reference_threshold(bars: list[Bar], i: int, spec: LabelSpec) -> float:
    """``r_t`` at row ``i`` from rows of the same symbol with ts in (t0 - W, t0]."""
    if spec.r_fixed is not None:
        return spec.r_fixed
    t0 = bars[i].ts
    window = [b for b in bars[: i + 1] if b.symbol == bars[i].symbol and t0 - spec.window_s * 1000 < b.ts]
    squares = 0
    count = 0
    for prev, cur in zip(window, window[1:], strict=False):
        if cur.ts - prev.ts == 1000 and not prev.gap and not cur.gap:
            r = math.log(cur.close / prev.close)
            squares += int(r * r * 2.0**80)
            count += 1
    spreads = [b.spread_bps for b in window if not b.gap and math.isfinite(b.spread_bps)]
    if count == 0 or count < spec.min_returns or (spec.use_spread and not spreads):
        return NAN
    sigma = math.sqrt(float(squares) / 2.0**80 / count)
    spread = median(spreads) / 10_000.0 if spec.use_spread else 0.0
    floor = max(spec.r_min, spec.cost_mult * (2.0 * spec.fee + 2.0 * spec.slippage + spread))
    return min(max(floor, spec.k * sigma * math.sqrt(spec.horizon_s)), spec.r_max)


def reference_labels(bars: list[Bar], spec: LabelSpec) -> list[Row]:
    """Labels per row: valid, y, fwd_return, r_t, label_ts, touch_ts, ambiguous."""
    by_key = {(b.symbol, b.ts): b for b in bars}
    out: list[Row] = []
    for i, b in enumerate(bars):
        r = reference_threshold(bars, i, spec)
        row: Row = {"valid": False, "y": 0, "fwd_return": NAN, "r_t": r, "label_ts": -1, "touch_ts": -1}
        row["ambiguous"] = False
        horizon = [by_key.get((b.symbol, b.ts + s * 1000)) for s in range(spec.horizon_s + 1)]
        covered = all(h is not None and not h.gap for h in horizon)
        if covered and math.isfinite(r):
            future = [h for h in horizon[1:] if h is not None]
            end = future[-1]
            fwd = end.close / b.close - 1.0
            row |= {"valid": True, "fwd_return": fwd, "label_ts": b.ts + spec.horizon_s * 1000}
            if spec.kind == "fixed_horizon":
                row["y"] = 1 if fwd >= r else -1 if fwd <= -r else 0
            else:
                upper, lower = b.close * (1.0 + r), b.close * (1.0 - r)
                for h in future:
                    up, down = h.high >= upper, h.low <= lower
                    if up or down:
                        row |= {"touch_ts": h.ts, "ambiguous": up and down}
                        row["y"] = 1 if up and (not down or h.close >= b.close) else -1
                        break
        out.append(row)
    return out
