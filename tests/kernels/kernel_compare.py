"""Turning kernel columns into rows and comparing them with reference rows."""

from __future__ import annotations

import math

import numpy as np

from cqt.bars import Columns, Gaps, Quotes
from tests.kernels.kernel_reference import Gap, Quote, Row, Trade

TRADE_FIELDS = (
    "open high low close volume notional vwap buy_volume sell_volume n_trades first_trade_ts last_trade_ts"
).split()
QUOTE_FIELDS = (
    "bid_open bid_high bid_low bid_close ask_open ask_high ask_low ask_close spread_bps mid imbalance n_quotes"
).split()
FLAG_FIELDS = ["stale", "gap"]


def rows_of(columns: Columns) -> dict[tuple[int, int], Row]:
    """Kernel output keyed by (symbol, ts); a later row for the same key replaces an earlier one."""
    names = [k for k in columns if k not in ("symbol", "ts")]
    out: dict[tuple[int, int], Row] = {}
    for i in range(len(columns["ts"])):
        key = (int(columns["symbol"][i]), int(columns["ts"][i]))
        out[key] = {name: columns[name][i].item() for name in names}
    return out


def same(a: float | int | bool, b: float | int | bool) -> bool:
    """Exact equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def assert_rows_equal(
    got: dict[tuple[int, int], Row], want: dict[tuple[int, int], Row], fields: list[str]
) -> None:
    """Same keys and exactly the same value of every field."""
    assert sorted(got) == sorted(want)
    for key, row in want.items():
        for f in fields:
            assert same(got[key][f], row[f]), (key, f, got[key][f], row[f])


def trade_arrays(trades: list[Trade]) -> dict[str, np.ndarray]:
    """Column arrays of a trade list."""
    return {
        "symbol": np.array([t[0] for t in trades], dtype=np.uint32),
        "ts": np.array([t[1] for t in trades], dtype=np.int64),
        "price": np.array([t[2] for t in trades], dtype=np.float64),
        "qty": np.array([t[3] for t in trades], dtype=np.float64),
        "taker_buy": np.array([t[4] for t in trades], dtype=np.bool_),
    }


def quote_arrays(quotes: list[Quote]) -> Quotes:
    """Column arrays of a quote list."""
    col = list(zip(*quotes, strict=True)) if quotes else [()] * 6
    return Quotes(
        np.array(col[0], dtype=np.uint32),
        np.array(col[1], dtype=np.int64),
        *(np.array(c, dtype=np.float64) for c in col[2:]),
    )


def gap_arrays(gaps: list[Gap]) -> Gaps:
    """Column arrays of a gap list."""
    return Gaps(
        np.array([g[0] for g in gaps], dtype=np.uint32),
        np.array([g[1] for g in gaps], dtype=np.int64),
        np.array([g[2] for g in gaps], dtype=np.int64),
    )
