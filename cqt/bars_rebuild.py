"""Re-aggregate `market_1s` from stored trades and quotes (docs/design.md §3: `cqt bars rebuild`).

The live bars come from the streaming aggregator; a trade that arrives after its bar became final (a
long outage filled from REST) is stored but not in the bar. Rebuilding a range runs the batch kernel over
what the database holds and upserts the bars with `revision` raised past the stored one. Bars overlapping
a gap the ledger still calls `open` or `unfillable` get `gap = true`.

To carry prices into the first bars of the range exactly as the live aggregator did, the last trade and
quote before the range are read too; so are the first trade and quote after it, which makes the kernel emit every
second of the range (it emits seconds between a symbol's first and last event).

Three rules keep the rebuilt bars honest (docs/design.md §2, §3):

* `recv_ts` of a bar is the newest `recv_ts` of the rows its values came from: its own second's trades, or
  the trade whose close it carries when it has none, and likewise its own second's quotes or the carried
  quote. The rebuild time would make every rebuilt bar unusable under the point-in-time rule.
* With `uncollected_are_gaps`, a second outside every collection session of the shard is `gap`: the
  kernel would carry prices across it and call it `stale`, and a flat carried price labels as NONE. A
  session is a bot run (`bot_runs`: `started_at` to `stopped_at`, or to the last heartbeat of a run that
  never stopped) from the bar of its first stored trade or quote to the bar of its last, the bars the
  live aggregator wrote. The first and last bar of a session keep the `gap` flag the live feed gave
  them for a second it did not hear whole.
* A stored bar with more trades than its rebuild is kept, never overwritten: the stored trades of that
  second are incomplete (lost writes, pruning), so the live bar is the better record. Such seconds are
  returned so the caller can report them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from cqt.bars import Columns, Gaps, Quotes, trade_bars
from cqt.collect.bar_feed import bar_rows
from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.predict.features import upbit_market_for
from cqt.store.tables import MARKET_1S

log = logging.getLogger(__name__)

BAR_MS = 1000
_NONE = np.iinfo(np.int64).min  # "no input" in the per-bar recv_ts arrays
_EPOCH = ms_to_dt(0)
_US = timedelta(microseconds=1)

_TRADES = """
(SELECT ts, price, qty, side, trade_id, recv_ts FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts < %(a)s ORDER BY ts DESC, trade_id DESC LIMIT 1)
UNION ALL
(SELECT ts, price, qty, side, trade_id, recv_ts FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(a)s AND ts < %(b)s)
UNION ALL
(SELECT ts, price, qty, side, trade_id, recv_ts FROM trades
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(b)s ORDER BY ts, trade_id LIMIT 1)
ORDER BY ts, trade_id
"""
_QUOTES = """
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq, recv_ts FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts < %(a)s ORDER BY ts DESC, seq DESC LIMIT 1)
UNION ALL
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq, recv_ts FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(a)s AND ts < %(b)s)
UNION ALL
(SELECT ts, bid_price, bid_qty, ask_price, ask_qty, seq, recv_ts FROM quotes
  WHERE exchange = %(x)s AND symbol = %(s)s AND ts >= %(b)s ORDER BY ts, seq LIMIT 1)
ORDER BY ts, seq
"""
_GAPS = """
SELECT start_ts, end_ts FROM gaps
 WHERE exchange = %(x)s AND symbol = %(s)s AND status IN ('open', 'unfillable')
   AND start_ts < %(b)s AND end_ts >= %(a)s
"""
# A run that never recorded its stop (crash, or still running) collected until its last heartbeat.
_RUNS = """
SELECT started_at, coalesce(stopped_at, heartbeat_at), symbols FROM bot_runs
 WHERE started_at < %(b)s AND coalesce(stopped_at, heartbeat_at) > %(a)s
"""
_STORED = "SELECT ts, n_trades FROM market_1s WHERE exchange = %s AND symbol = %s AND ts BETWEEN %s AND %s"
_STORED_GAPS = "SELECT ts FROM market_1s WHERE exchange = %(x)s AND symbol = %(s)s AND ts > %(a)s AND ts <= %(b)s AND gap"


@dataclass
class Rebuilt:
    """What a rebuild wrote: bars upserted, of which `replaced` overwrote a stored bar and `gap` are gap
    seconds; `inputs` trades and quotes were read; `fewer_trades` are the seconds whose stored bar had more
    trades than the rebuild and was kept."""

    written: int = 0
    replaced: int = 0
    gap: int = 0
    inputs: int = 0
    fewer_trades: list[datetime] = field(default_factory=list)

    def add(self, other: Rebuilt) -> None:
        """Count `other` in (totals over chunks)."""
        self.written += other.written
        self.replaced += other.replaced
        self.gap += other.gap
        self.inputs += other.inputs
        self.fewer_trades += other.fewer_trades


def _us_to_dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _dt_to_us(ts: datetime) -> int:
    return (ts - _EPOCH) // _US


def _input_recv(
    ts_ms: NDArray[np.int64], recv_us: NDArray[np.int64], bars: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Per bar end `T`: the newest `recv_us` of the rows with `ts` in `[T - 1 s, T)`, or, when there are
    none, of the last row before (the one the kernel carries); `_NONE` when there is neither.
    `ts_ms` is sorted in the kernel's order."""
    lo = np.searchsorted(ts_ms, bars - BAR_MS, side="left")
    hi = np.searchsorted(ts_ms, bars, side="left")
    # reduceat over the pairs (lo, hi): the even entries are the maxima of [lo, hi); the sentinel row keeps
    # every index in bounds and is never inside a pair.
    padded = np.append(recv_us, _NONE)
    own = np.maximum.reduceat(padded, np.ravel([lo, hi], order="F"))[::2] if len(bars) else bars
    carried = np.where(lo > 0, padded[np.maximum(lo - 1, 0)], _NONE)
    return np.where(hi > lo, own, carried)


def _shard_symbols(exchange: str, run_symbols: Sequence[str]) -> set[str]:
    """The symbols of `exchange` a run collected; runs record their Binance symbols, and collect each
    one's Upbit market alongside."""
    return set(run_symbols) if exchange == "binance" else {upbit_market_for(s) for s in run_symbols}


def _uncollected(
    conn: psycopg.Connection[tuple[Any, ...]],
    params: dict[str, Any],
    bars: NDArray[np.int64],
    events: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Bars `[T - 1 s, T)` no collection session of the shard covered whole.

    A run's session spans the bars from its first to its last stored event (`events`, sorted ms, with the
    rows just outside the range), as the live aggregator's bars do; a run's start-up before its first
    event collected nothing. The session's first and last bar are covered only in part: the live feed
    flagged them `gap` unless it heard the whole second (and the next run's fill of the span between
    runs may have made them whole since), so there the stored flag stands.
    """
    covered = np.zeros(len(bars), dtype=np.bool_)
    edges = np.zeros(len(bars), dtype=np.bool_)
    for started, stopped, symbols in conn.execute(_RUNS, params):
        if params["s"] not in _shard_symbols(params["x"], symbols):
            continue
        i = np.searchsorted(events, dt_to_ms(started), side="left")
        j = np.searchsorted(events, dt_to_ms(stopped), side="left") - 1
        if i <= j:
            session = np.flatnonzero((bars > events[i]) & (bars - BAR_MS <= events[j]))
            covered[session] = True
            edges[session[[0, -1]] if len(session) else session] = True
    if edges.any():
        flagged = [dt_to_ms(ts) for (ts,) in conn.execute(_STORED_GAPS, params)]
        covered &= ~(edges & np.isin(bars, np.array(flagged, dtype=np.int64)))
    return ~covered


def compute_range(
    conn: psycopg.Connection[tuple[Any, ...]],
    exchange: str,
    symbol: str,
    first_bar: datetime,
    last_bar: datetime,
    *,
    uncollected_are_gaps: bool = False,
) -> tuple[Columns, int]:
    """Batch bars with `ts` in `[first_bar, last_bar]` from the stored rows (one symbol), with their
    `recv_ts` as epoch µs in column `recv_us`, and how many trades and quotes were read."""
    a_ms, b_ms = dt_to_ms(first_bar) - BAR_MS, dt_to_ms(last_bar)
    params = {"x": exchange, "s": symbol, "a": ms_to_dt(a_ms), "b": ms_to_dt(b_ms)}
    trades = conn.execute(_TRADES, params).fetchall()
    quotes = conn.execute(_QUOTES, params).fetchall()
    gaps = conn.execute(_GAPS, params).fetchall()
    trade_ts = np.array([dt_to_ms(t[0]) for t in trades], np.int64)
    quote_ts = np.array([dt_to_ms(q[0]) for q in quotes], np.int64)
    cols = trade_bars(
        trade_ts,
        np.array([t[1] for t in trades], np.float64),
        np.array([t[2] for t in trades], np.float64),
        np.array([t[3] > 0 for t in trades], np.bool_),
        quotes=Quotes(
            np.zeros(len(quotes), np.uint32),
            quote_ts,
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
    out = {name: values[keep] for name, values in cols.items()}
    bars = ts[keep]
    out["recv_us"] = np.maximum(
        _input_recv(trade_ts, np.array([_dt_to_us(t[5]) for t in trades], np.int64), bars),
        _input_recv(quote_ts, np.array([_dt_to_us(q[6]) for q in quotes], np.int64), bars),
    )
    if uncollected_are_gaps:
        events = np.sort(np.concatenate([trade_ts, quote_ts]))
        out["gap"] = np.logical_or(out["gap"], _uncollected(conn, params, bars, events))
    return out, len(trades) + len(quotes)


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


def rebuild(
    conn: psycopg.Connection[tuple[Any, ...]],
    exchange: str,
    symbol: str,
    first_bar: datetime,
    last_bar: datetime,
    *,
    uncollected_are_gaps: bool = False,
) -> Rebuilt:
    """Recompute the bars `[first_bar, last_bar]` and upsert them, keeping stored bars that had more trades."""
    cols, inputs = compute_range(
        conn, exchange, symbol, first_bar, last_bar, uncollected_are_gaps=uncollected_are_gaps
    )
    recv_us = cols.pop("recv_us").tolist()
    n_trades = dict(zip(cols["ts"].tolist(), cols["n_trades"].tolist(), strict=True))
    stored = {
        dt_to_ms(ts): n
        for ts, n in conn.execute(_STORED, (exchange, symbol, first_bar, last_bar))
        if dt_to_ms(ts) in n_trades
    }
    kept = sorted(ts for ts, n in stored.items() if n > n_trades[ts])
    # bar_rows stamps one recv_ts on every row; each rebuilt bar has its own
    rows = [
        (*row[:3], _us_to_dt(recv), *row[4:])
        for row, recv in zip(bar_rows(exchange, [symbol], cols, _EPOCH), recv_us, strict=True)
    ]
    if kept:
        skip = set(kept)
        rows = [row for row in rows if dt_to_ms(row[2]) not in skip]
    if rows:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_upsert(), rows)
    gap_at = MARKET_1S.columns.index("gap")
    return Rebuilt(
        written=len(rows),
        replaced=len(stored) - len(kept),
        gap=sum(1 for row in rows if row[gap_at]),
        inputs=inputs,
        fewer_trades=[ms_to_dt(ts) for ts in kept],
    )


def rebuild_range(
    conn: psycopg.Connection[tuple[Any, ...]],
    exchange: str,
    symbol: str,
    first_bar: datetime,
    last_bar: datetime,
) -> int:
    """`rebuild` for the bot's repair of bars a closed gap touched: its own run covers the range, so the
    ledger alone says which seconds are gaps. Returns how many rows were written; kept bars are logged."""
    done = rebuild(conn, exchange, symbol, first_bar, last_bar)
    if done.fewer_trades:
        log.warning(
            "bar rebuild %s %s kept %d stored bar(s) with more trades than the stored trades give, first %s",
            exchange, symbol, len(done.fewer_trades), done.fewer_trades[0].isoformat(),
        )  # fmt: skip
    return done.written
