"""Labels of the stored Binance bars from the pure-Python reference of the label kernel."""

from __future__ import annotations

import math
from typing import Any

import psycopg

from cqt.collect.rows import dt_to_ms
from tests.kernels.kernel_reference import Bar, LabelSpec, Row, reference_labels

NAN = float("nan")


def stored_bars(conninfo: str, symbol: str = "BTCUSDT") -> list[Bar]:
    """Every stored Binance bar that has prices, and every gap bar (prices NaN)."""
    with psycopg.connect(conninfo) as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT ts, close, high, low, gap, spread_bps FROM market_1s WHERE exchange = 'binance'"
            " AND symbol = %s ORDER BY ts",
            (symbol,),
        ).fetchall()
    return [
        Bar(
            0,
            dt_to_ms(ts),
            NAN if c is None else c,
            NAN if h is None else h,
            NAN if lo is None else lo,
            gap,
            NAN if s is None else s,
        )  # fmt: skip
        for ts, c, h, lo, gap, s in rows
        if gap or (c is not None and h is not None and lo is not None)
    ]


def reference_by_ts(bars: list[Bar], spec: LabelSpec) -> dict[int, Row]:
    return {b.ts: out for b, out in zip(bars, reference_labels(bars, spec), strict=True)}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
