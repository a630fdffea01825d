"""One-second bars: batch aggregation and a streaming aggregator over the Rust core.

Bars cover ``[ts - 1 s, ts)`` and are stamped with their end ``ts`` (ms, exchange event time),
see docs/design.md §3. Inputs are numpy arrays that reach Rust without a copy when they already have the
expected dtype (uint32 symbol ids, int64 ms, float64, bool) and are C-contiguous. Outputs are
dicts of numpy arrays that own the Rust buffers; :func:`to_frame` wraps them in a polars
DataFrame without copying the numeric columns.

Conventions the kernel fixes (details in ``core_rs/src/acc.rs`` and ``stream.rs``):

* Within a bar, events are ordered by (event time, input position): equal timestamps keep the
  order in which they were passed.
* A second without trades repeats the previous close in open/high/low/close (NaN before the
  symbol's first trade), has zero volumes, ``vwap`` NaN, ``first_trade_ts = last_trade_ts = -1``
  and ``stale = True``. Quote columns carry the previous book.
* ``gap = True`` marks bars overlapping a declared collection gap ``[start, end)``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from cqt import _core

Columns = dict[str, NDArray[np.generic]]


def u32(a: ArrayLike) -> NDArray[np.uint32]:
    """Symbol ids as contiguous uint32 (no copy if they already are)."""
    return np.ascontiguousarray(a, dtype=np.uint32)


def i64(a: ArrayLike) -> NDArray[np.int64]:
    """Millisecond times as contiguous int64 (no copy if they already are)."""
    return np.ascontiguousarray(a, dtype=np.int64)


def f64(a: ArrayLike) -> NDArray[np.float64]:
    """Prices or quantities as contiguous float64 (no copy if they already are)."""
    return np.ascontiguousarray(a, dtype=np.float64)


def flags(a: ArrayLike) -> NDArray[np.bool_]:
    """Booleans as contiguous bool (no copy if they already are)."""
    return np.ascontiguousarray(a, dtype=np.bool_)


def symbols_or_zero(symbol: ArrayLike | None, n: int) -> NDArray[np.uint32]:
    """The symbol id column, or all zeros for single-symbol input."""
    return np.zeros(n, dtype=np.uint32) if symbol is None else u32(symbol)


class Quotes(NamedTuple):
    """Best bid/ask updates."""

    symbol: ArrayLike
    ts: ArrayLike
    bid: ArrayLike
    bid_qty: ArrayLike
    ask: ArrayLike
    ask_qty: ArrayLike


class Gaps(NamedTuple):
    """Declared collection gaps ``[start, end)`` in ms per symbol."""

    symbol: ArrayLike
    start: ArrayLike
    end: ArrayLike


def trade_bars(
    ts: ArrayLike,
    price: ArrayLike,
    qty: ArrayLike,
    taker_buy: ArrayLike,
    *,
    symbol: ArrayLike | None = None,
    quotes: Quotes | None = None,
    gaps: Gaps | None = None,
    threads: int | None = None,
) -> Columns:
    """One-second bars for one or many symbols; input may be in any order.

    Rows come out sorted by (symbol, ts) with every second between a symbol's first and last bar
    present. With ``quotes`` the quote columns are merged on (symbol, ts). Raises ``ValueError``
    naming the offending row for NaN, infinite, zero or negative prices and quantities.
    ``threads`` (default: CPU count) splits the work by output bar; results do not depend on it.
    """
    ts64 = i64(ts)
    quote_arrays = None
    if quotes is not None:
        q_ts = i64(quotes.ts)
        quote_arrays = (
            symbols_or_zero(quotes.symbol, len(q_ts)),
            q_ts,
            f64(quotes.bid),
            f64(quotes.bid_qty),
            f64(quotes.ask),
            f64(quotes.ask_qty),
        )
    gap_arrays = None if gaps is None else (u32(gaps.symbol), i64(gaps.start), i64(gaps.end))
    return _core.aggregate_bars(
        symbols_or_zero(symbol, len(ts64)),
        ts64,
        f64(price),
        f64(qty),
        flags(taker_buy),
        quote_arrays,
        gap_arrays,
        threads if threads is not None else os.cpu_count() or 1,
    )


def to_frame(columns: Columns) -> pl.DataFrame:
    """Polars view of kernel output; numeric columns are shared, not copied, and ``ts`` becomes
    a UTC millisecond datetime (a reinterpretation of the same int64 buffer)."""
    frame = pl.DataFrame({name: pl.Series(name, values) for name, values in columns.items()})
    if "ts" in frame.columns:
        frame = frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", time_zone="UTC")))
    return frame


class StreamAggregator:
    """Streaming bars: feed trade (and quote) batches in arrival order, collect emitted rows.

    The watermark is ``max event time seen - grace_ms``; a bar is emitted once the watermark
    reaches its end ``ts``. An emitted bar still accepts late events while
    ``ts + lateness_ms > watermark`` and is then emitted again with ``revision + 1``; events for
    bars older than that are counted in :attr:`late_dropped` and not applied. Keeping the last
    revision of every (symbol, ts) reproduces :func:`trade_bars` on the applied events.
    """

    def __init__(self, grace_ms: int = 2000, lateness_ms: int = 10_000, with_quotes: bool = False) -> None:
        self._inner = _core.StreamAggregator(grace_ms, lateness_ms, with_quotes)

    def push_trades(
        self,
        ts: ArrayLike,
        price: ArrayLike,
        qty: ArrayLike,
        taker_buy: ArrayLike,
        *,
        symbol: ArrayLike | None = None,
    ) -> Columns:
        """Applies one batch of trades; returns the bars it closed or revised (with ``revision``)."""
        ts64 = i64(ts)
        return self._inner.push_trades(
            symbols_or_zero(symbol, len(ts64)), ts64, f64(price), f64(qty), flags(taker_buy)
        )

    def push_quotes(self, quotes: Quotes) -> Columns:
        """Applies one batch of best bid/ask updates (requires ``with_quotes=True``)."""
        q_ts = i64(quotes.ts)
        return self._inner.push_quotes(
            symbols_or_zero(quotes.symbol, len(q_ts)),
            q_ts,
            f64(quotes.bid),
            f64(quotes.bid_qty),
            f64(quotes.ask),
            f64(quotes.ask_qty),
        )

    def flush(self) -> Columns:
        """Closes every open bar (end of stream)."""
        return self._inner.flush()

    @property
    def late_dropped(self) -> int:
        """Trades not applied because their bar was already final."""
        return self._inner.late_dropped

    @property
    def late_dropped_quotes(self) -> int:
        """Quote updates not applied because their bar was already final."""
        return self._inner.late_dropped_quotes

    @property
    def watermark(self) -> int | None:
        """Current watermark in ms, ``None`` before the first event."""
        return self._inner.watermark
