"""Synthetic market rows with random arrival lags, missing seconds, gap bars and pre-trade bars."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from tests.predict.rows import BAR_COLUMNS, at, copy_rows


@dataclass(frozen=True)
class Bar:
    """One market_1s row (times in ms after ``T_BASE``)."""

    exchange: str
    symbol: str
    ts: int
    recv: int
    close: float | None
    high: float | None
    low: float | None
    spread_bps: float | None
    imbalance: float | None
    gap: bool

    def row(self) -> tuple[object, ...]:
        return (
            self.exchange,
            self.symbol,
            at(self.ts),
            at(self.recv),
            self.close,
            self.high,
            self.low,
            self.spread_bps,
            self.imbalance,
            self.gap,
        )


@dataclass(frozen=True)
class Shape:
    """How irregular a generated series is."""

    n: int = 800
    p_missing: float = 0.02
    p_gap: float = 0.01
    p_late: float = 0.05
    vol: float = 3e-4
    lead_without_trades: int = 0


def bar_series(rng: np.random.Generator, exchange: str, symbol: str, price: float, shape: Shape) -> list[Bar]:
    """Consecutive 1 s bars from ts = 1 s: a random walk with highs/lows around it.

    Arrival lag is 1.5-3.5 s (a live aggregator's grace) or, with ``p_late``, 5-120 s (a revised bar).
    """
    bars = []
    close = price
    for i in range(shape.n):
        ts = (i + 1) * 1000
        step = float(rng.normal(0.0, shape.vol))
        prev, close = close, close * math.exp(step)
        lag = (
            int(rng.integers(5_000, 120_000))
            if rng.random() < shape.p_late
            else int(rng.integers(1500, 3500))
        )
        if rng.random() < shape.p_missing:
            continue
        gap = bool(rng.random() < shape.p_gap)
        if i < shape.lead_without_trades or (gap and rng.random() < 0.5):
            bars.append(Bar(exchange, symbol, ts, ts + lag, None, None, None, None, None, gap))
            continue
        wiggle = abs(float(rng.normal(0.0, shape.vol)))
        high, low = max(prev, close) * (1 + wiggle), min(prev, close) * (1 - wiggle)
        spread = None if rng.random() < 0.02 else float(rng.uniform(0.1, 3.0))
        imbalance = None if rng.random() < 0.02 else float(rng.uniform(-1.0, 1.0))
        bars.append(Bar(exchange, symbol, ts, ts + lag, close, high, low, spread, imbalance, gap))
    return bars


def insert_bars(conn: psycopg.Connection[Any], bars: list[Bar]) -> None:
    copy_rows(conn, "market_1s", BAR_COLUMNS, [b.row() for b in bars])


def insert_side_tables(
    conn: psycopg.Connection[Any], rng: np.random.Generator, symbol: str, n_s: int
) -> None:
    """mark_price each second, open interest each 10 s, a liquidation every ~20 s; random lags."""
    marks = []
    for s in range(1, n_s + 1):
        if rng.random() < 0.9:
            lag = int(rng.integers(0, 4000)) if rng.random() < 0.9 else int(rng.integers(5000, 90_000))
            marks.append(
                (
                    "binance",
                    symbol,
                    at(s * 1000),
                    at(s * 1000 + lag),
                    100.0,
                    100.0,
                    float(rng.normal(1e-4, 5e-5)),
                )
            )
    copy_rows(
        conn,
        "mark_price",
        ("exchange", "symbol", "ts", "recv_ts", "mark_price", "index_price", "funding_rate"),
        marks,
    )
    oi = [
        ("binance", symbol, "open_interest", at(s * 1000), at(s * 1000 + int(rng.integers(0, 60_000))), None,
         float(rng.uniform(9e4, 1.1e5)))
        for s in range(10, n_s + 1, 10)
    ]  # fmt: skip
    copy_rows(conn, "metrics", ("source", "symbol", "metric", "ts", "recv_ts", "period_s", "value"), oi)
    liq = [
        ("binance", symbol, at(ms), at(ms + int(rng.integers(0, 5000))), str(rng.choice(["BUY", "SELL"])),
         100.0, float(rng.uniform(90, 110)), float(rng.uniform(0.1, 50)), "FILLED")
        for ms in sorted({int(x) for x in rng.integers(1000, n_s * 1000, size=n_s // 20)})
    ]  # fmt: skip
    copy_rows(
        conn,
        "liquidations",
        ("exchange", "symbol", "ts", "recv_ts", "side", "price", "avg_price", "qty", "status"),
        liq,
    )
