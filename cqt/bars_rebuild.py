"""Re-aggregate `market_1s` from stored trades and quotes (DESIGN §3: `cqt bars rebuild`).

The live bars come from the streaming aggregator; a trade that arrives after its bar became final (a
long outage filled from REST) is stored but not in the bar. Rebuilding a range runs the batch kernel over
what the database holds and upserts the bars with `revision` raised past the stored one. Bars overlapping
a gap the ledger still calls `open` or `unfillable` get `gap = true`.

To carry prices into the first bars of the range exactly as the live aggregator did, the last trade and
quote before the range are read too; so are the first trade and quote after it, which makes the kernel emit every
second of the range (it emits seconds between a symbol's first and last event).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from cqt.bars import Columns, Gaps, Quotes, trade_bars
from cqt.collect.bar_feed import bar_rows
from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.store.tables import MARKET_1S

BAR_MS = 1000

_TRADES = """
(SELECT ts, price, qty, side, trade_id FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts < %(a)s ORDER BY ts DESC, trade_id DESC LIMIT 1)
UNION ALL
(SELECT ts, price, qty, side, trade_id FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(a)s AND ts < %(b)s)
UNION ALL
(SELECT ts, price, qty, side, trade_id FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(b)s ORDER BY ts, trade_id LIMIT 1)
ORDER BY ts, trade_id
"""
_QUOTES = """
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts < %(a)s ORDER BY ts DESC, seq DESC LIMIT 1)
UNION ALL
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(a)s AND ts < %(b)s)
UNION ALL
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(b)s ORDER BY ts, seq LIMIT 1)
ORDER BY ts, seq
"""
_GAPS = """
SELECT start_ts, end_ts FROM gaps
 WHERE exchange = %(x)s AND symbol = %(s)s AND status IN ('open', 'unfillable')
   AND start_ts < %(b)s AND end_ts >= %(a)s
"""


def compute_range(
    conn: psycopg.Connection[tuple[Any, ...]],
    exchange: str,
    symbol: str,
    first_bar: datetime,
    last_bar: datetime,
) -> Columns:
    """Batch bars with `ts` in `[first_bar, last_bar]` from the stored rows (one symbol)."""
    a_ms, b_ms = dt_to_ms(first_bar) - BAR_MS, dt_to_ms(last_bar)
    params = {"x": exchange, "s": symbol, "a": ms_to_dt(a_ms), "b": ms_to_dt(b_ms)}
    trades = conn.execute(_TRADES, params).fetchall()
    quotes = conn.execute(_QUOTES, params).fetchall()
    gaps = conn.execute(_GAPS, params).fetchall()
    cols = trade_bars(
        np.array([dt_to_ms(t[0]) for t in trades], np.int64),
        np.array([t[1] for t in trades], np.float64),
        np.array([t[2] for t in trades], np.float64),
        np.array([t[3] > 0 for t in trades], np.bool_),
        quotes=Quotes(
            np.zeros(len(quotes), np.uint32),
            np.array([dt_to_ms(q[0]) for q in quotes], np.int64),
            np.array([q[1] for q in quotes], np.float64),
            np.array([q[2] for q in quotes], np.float64),
            np.array([q[3] for q in quotes], np.float64),
            np.array([q[4] for q in quotes], np.float64),
        ),
        gaps=Gaps(
            np.zeros(len(gaps), np.uint32),
            np.array([dt_to_ms(g[0]) for g in gaps], np.int64),
            # the ledger's end is the last instant possibly missing; the kernel takes [start, end)
            np.array([dt_to_ms(g[1]) + 1 for g in gaps], np.int64),
        ),
        threads=1,
    )
    ts = np.asarray(cols["ts"], dtype=np.int64)
    keep = (ts > a_ms) & (ts <= b_ms)
    return {name: values[keep] for name, values in cols.items()}


def _upsert() -> sql.Composed:
    cols = MARKET_1S.columns
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
        for c in cols
        if c not in MARKET_1S.key and c != "revision"
    )
    return sql.SQL(
        "INSERT INTO market_1s ({c}) VALUES ({p}) ON CONFLICT (exchange, symbol, ts)"
        " DO UPDATE SET {u}, revision = market_1s.revision + 1"
    ).format(
        c=sql.SQL(", ").join(map(sql.Identifier, cols)),
        p=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        u=updates,
    )


def rebuild_range(
    conn: psycopg.Connection[tuple[Any, ...]],
    exchange: str,
    symbol: str,
    first_bar: datetime,
    last_bar: datetime,
) -> int:
    """Recompute and upsert the bars `[first_bar, last_bar]`; returns how many rows were written."""
    cols = compute_range(conn, exchange, symbol, first_bar, last_bar)
    rows = bar_rows(exchange, [symbol], cols, datetime.now(UTC))
    if rows:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_upsert(), rows)
    return len(rows)
