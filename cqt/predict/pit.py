"""The point-in-time rule (docs/design.md §2) as one SQL fragment, and the bar window loader built on it.

Every query of this package selects rows through :func:`usable_at`: a row is usable at ``asof`` only
if ``ts <= asof AND recv_ts <= asof``. A bar revised after ``asof`` carries the revision's later
``recv_ts`` and is therefore not usable at ``asof`` (the earlier revision is no longer stored).
Queries bind the instant as the named parameter ``asof``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from cqt.collect.rows import dt_to_ms


def usable_at(alias: str | None = None) -> sql.Composed:
    """``ts <= %(asof)s AND recv_ts <= %(asof)s`` for the table (or alias) of the query."""
    ts, recv = (sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in ("ts", "recv_ts"))
    return sql.SQL("{ts} <= %(asof)s AND {recv} <= %(asof)s").format(ts=ts, recv=recv)


@dataclass(frozen=True)
class BarWindow:
    """One-second bars of one (exchange, symbol), sorted by ``ts`` (bar end, epoch ms).

    Rows whose trade prices are NULL (seconds before the first trade) are left out unless they are gap
    bars, so they read as missing seconds; gap bars keep NaN prices (the label kernel ignores them).
    """

    ts: NDArray[np.int64]
    close: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    spread_bps: NDArray[np.float64]
    imbalance: NDArray[np.float64]
    gap: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ts)

    def upto(self, ts_ms: int) -> BarWindow:
        """The rows with ``ts <= ts_ms``."""
        end = int(np.searchsorted(self.ts, ts_ms, side="right"))
        return self.slice(0, end)

    def slice(self, start: int, end: int) -> BarWindow:
        """Rows ``start:end``."""
        return BarWindow(
            self.ts[start:end],
            self.close[start:end],
            self.high[start:end],
            self.low[start:end],
            self.spread_bps[start:end],
            self.imbalance[start:end],
            self.gap[start:end],
        )


_BARS = sql.SQL(
    "SELECT ts, close, high, low, spread_bps, imbalance, gap FROM market_1s"
    " WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND ts > %(since)s AND ts <= %(until)s"
    " AND {pit} AND (gap OR (close IS NOT NULL AND high IS NOT NULL AND low IS NOT NULL))"
    " ORDER BY ts"
).format(pit=usable_at())


def load_bars(
    conn: psycopg.Connection[Any],
    exchange: str,
    symbol: str,
    since: datetime,
    until: datetime,
    asof: datetime,
) -> BarWindow:
    """Bars with ``ts`` in ``(since, until]`` usable at ``asof`` (one range scan of the primary key)."""
    params = {"exchange": exchange, "symbol": symbol, "since": since, "until": until, "asof": asof}
    rows = conn.execute(_BARS, params).fetchall()
    nan = float("nan")

    def column(i: int) -> NDArray[np.float64]:
        return np.array([nan if r[i] is None else r[i] for r in rows], dtype=np.float64)

    return BarWindow(
        np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
        np.array([bool(r[6]) for r in rows], dtype=np.bool_),
    )
