"""altdata: every collected stream is current, complete, without open gaps and with few reconnects.

Per stream of :mod:`cqt.checks.streams`:

* ``lag_event_s`` = now - max(ts) (source clock) and ``lag_local_s`` = now - max(recv_ts) (our clock),
  each <= ``CHECK_MAX_LAG_S``; a polled series may be older by its cadence plus its poll interval
  (a 5-minute period is only complete at its end and is fetched up to one poll later). Only rows newer
  than window + limit are read (index range scans); none -> no value -> FAIL.
* ``fill`` = slots with data / expected slots >= ``CHECK_MIN_FILL``. Slots are the cadence grid
  (seconds for pushed streams, periods for polled ones) whose end lies in ``(now - N - d, now - d]``,
  ``d`` = poll interval + ``SETTLE_S`` (the newest second is still in the bar grace window, the newest
  period not yet polled). A window shorter than the cadence may contain no slot: then fill is not
  measured and lag alone judges the series.
* ``open_gaps``: gap-ledger rows still ``open`` that reach into the window, <= ``CHECK_MAX_OPEN_GAPS``.
* ``reconnects``: from ``stream_status``, per run the cumulative counter at the window end minus the
  one at the window start (0 for a run that started inside the window), summed over runs,
  <= ``CHECK_MAX_RECONNECTS``. No snapshot in the window (no bot heartbeat) -> no value -> FAIL.
* ``forceOrder`` (event stream): its connection's newest frame within ``CHECK_MAX_LAG_S`` and no
  malformed frame in the window; the liquidations seen are reported.
* ``key_conflicts``: natural keys for which the writer received a row with another payload than the
  stored one in the window (``key_conflicts.last_seen``), per table, must be 0: that row was not stored,
  so the data differs from what the venue sent. Storage-wide, whatever ``--symbol`` selects; the detail
  shows the latest sample key with its stored and incoming values.
* ``storage writer`` (from ``writer_status``, storage-wide): ``rows_inserted`` in the window, summed over
  runs like ``reconnects``, fails when it is 0 while rows are queued (held in memory or spooled at the
  latest heartbeat): the writer is not writing. ``spool_failing``: heartbeats in the window at which the
  spool refused batches (disk full, not writable, not a directory), must be 0; the detail shows the
  error. No snapshot in the window (no bot heartbeat) -> no value -> FAIL.
"""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from typing import Any

from psycopg import sql

from cqt.checks.context import CheckContext
from cqt.checks.result import Measurement, at_least, at_most
from cqt.checks.run import main
from cqt.checks.streams import FORCE_ORDER_CONNECTION, Stream, catalogue
from cqt.store.writer import KeyConflict

NAME = "altdata"
# The newest second is still open in the bar grace window (2 s) and the writer's batch (0.25 s).
SETTLE_S = 5.0
# How far back a run's snapshot may lie to serve as the counter value at the window start.
COUNTER_BASE_S = 3600


def check(ctx: CheckContext) -> list[Measurement]:
    """Measurements of every stream of the selected symbols."""
    out: list[Measurement] = []
    for stream in catalogue(ctx.settings, ctx.binance_symbols, ctx.upbit_markets):
        out += event_stream(ctx, stream) if stream.fill == "none" else judge(ctx, stream)
    return out + key_conflicts(ctx) + storage_writer(ctx)


def where(filters: dict[str, str]) -> sql.Composed:
    """``col = %(col)s AND ...`` for equality filters (identifiers quoted, values bound)."""
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in filters
    )


def lag_limit(ctx: CheckContext, stream: Stream) -> float:
    base = ctx.settings.check_max_lag_s
    return base + stream.cadence_s + stream.poll_s if stream.polled else base


def judge(ctx: CheckContext, stream: Stream) -> list[Measurement]:
    w = ctx.window
    limit = lag_limit(ctx, stream)
    q = sql.SQL(
        "SELECT extract(epoch FROM %(now)s - max(ts))::float8,"
        " extract(epoch FROM %(now)s - max(recv_ts))::float8"
        " FROM {t} WHERE {f} AND ts > %(since)s AND ts <= %(now)s"
    ).format(t=sql.Identifier(stream.table), f=where(stream.filters))
    since = w.start - timedelta(seconds=limit)
    row = ctx.conn.execute(q, {**stream.filters, "now": w.now, "since": since}).fetchone()
    lag_event, lag_local = (None, None) if row is None else row
    name = stream.label
    if stream.optional and lag_event is None:
        return [Measurement(f"{name} lag_event_s", None, None, "<=", "s", True, "optional series: no rows")]
    none = f"no row since {since.isoformat()}" if lag_event is None else ""
    out = [
        at_most(f"{name} lag_event_s", lag_event, limit, "s", none),
        at_most(f"{name} lag_local_s", lag_local, limit, "s", none),
    ]
    fill = fill_rate(ctx, stream)
    if fill is not None:
        present, expected = fill
        out.append(
            Measurement(
                f"{name} fill",
                present / expected,
                ctx.settings.check_min_fill,
                ">=",
                "",
                present / expected >= ctx.settings.check_min_fill,
                f"{present}/{expected} slots of {stream.cadence_s:g} s",
            )
        )
    if stream.gap_stream is not None:
        out.append(open_gaps(ctx, stream))
    if stream.status is not None:
        out.append(reconnects(ctx, stream))
    return out


def fill_rate(ctx: CheckContext, stream: Stream) -> tuple[int, int] | None:
    """(slots with data, expected slots), or None when the window holds no complete slot."""
    w, c = ctx.window, stream.cadence_s
    hi = w.now.timestamp() - stream.poll_s - SETTLE_S
    first, last = (
        math.floor((hi - w.seconds) / c),
        math.floor(hi / c),
    )  # slots (k*c - c, k*c], first < k <= last
    expected = last - first
    if expected < 1:
        return None
    table, filters = stream.table, dict(stream.filters)
    if stream.fill == "bars":
        table = "market_1s"
        filters = {k: filters[k] for k in ("exchange", "symbol")}
    q = sql.SQL(
        "SELECT count(DISTINCT ceil(extract(epoch FROM ts) / %(c)s)) FROM {t}"
        " WHERE {f} AND ts > to_timestamp(%(lo)s) AND ts <= to_timestamp(%(hi)s)"
    ).format(t=sql.Identifier(table), f=where(filters))
    params: dict[str, Any] = {**filters, "c": c, "lo": first * c, "hi": last * c}
    row = ctx.conn.execute(q, params).fetchone()
    return (int(row[0]) if row else 0), expected


_OPEN_GAPS = (
    "SELECT count(*) FROM gaps WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND stream = %(stream)s"
    " AND status = 'open' AND end_ts >= %(start)s"
)


def open_gaps(ctx: CheckContext, stream: Stream) -> Measurement:
    params = {**stream.filters, "stream": stream.gap_stream, "start": ctx.window.start}
    row = ctx.conn.execute(_OPEN_GAPS, params).fetchone()
    n = int(row[0]) if row else 0
    return at_most(f"{stream.label} open_gaps", n, ctx.settings.check_max_open_gaps)


_COUNTER = sql.SQL(
    "SELECT sum(last - base)::float8, count(*) FROM ("
    " SELECT max({c}) AS last, coalesce(max({c}) FILTER (WHERE ts <= %(start)s), 0) AS base"
    " FROM stream_status WHERE exchange = %(exchange)s AND stream = %(stream)s"
    " AND ts > %(base_since)s AND ts <= %(now)s"
    " AND run_id IN (SELECT run_id FROM stream_status WHERE ts > %(start)s AND ts <= %(now)s)"
    " GROUP BY run_id) r"
)


def counter_delta(ctx: CheckContext, exchange: str, stream: str, column: str) -> tuple[float | None, int]:
    """(increase of a cumulative ``stream_status`` counter over the window, runs seen); None: no snapshot."""
    w = ctx.window
    params = {
        "exchange": exchange,
        "stream": stream,
        "start": w.start,
        "now": w.now,
        "base_since": w.start - timedelta(seconds=COUNTER_BASE_S),
    }
    row = ctx.conn.execute(_COUNTER.format(c=sql.Identifier(column)), params).fetchone()
    if row is None or row[1] == 0:
        return None, 0
    return float(row[0]), int(row[1])


def reconnects(ctx: CheckContext, stream: Stream) -> Measurement:
    assert stream.status is not None
    value, runs = counter_delta(ctx, *stream.status, "reconnects")
    detail = (
        "no stream_status snapshot in the window (is the bot running?)" if value is None else f"{runs} run(s)"
    )
    return at_most(f"{stream.label} reconnects", value, ctx.settings.check_max_reconnects, "", detail)


def event_stream(ctx: CheckContext, stream: Stream) -> list[Measurement]:
    """An event stream: connection alive, no malformed frame; the events seen are reported."""
    w = ctx.window
    row = ctx.conn.execute(
        "SELECT extract(epoch FROM %(now)s - max(last_recv_ts))::float8 FROM stream_status"
        " WHERE connection = %(conn)s AND ts > %(start)s AND ts <= %(now)s",
        {"now": w.now, "start": w.start, "conn": FORCE_ORDER_CONNECTION},
    ).fetchone()
    alive = None if row is None else row[0]
    q = sql.SQL(
        "SELECT count(*) FROM {t} WHERE {f} AND ts > %(start)s AND ts <= %(now)s AND recv_ts <= %(now)s"
    ).format(t=sql.Identifier(stream.table), f=where(stream.filters))
    events = ctx.conn.execute(q, {**stream.filters, "start": w.start, "now": w.now}).fetchone()
    assert stream.status is not None
    malformed, _ = counter_delta(ctx, *stream.status, "malformed")
    return [
        at_most(
            f"{stream.label} connection_lag_s",
            alive,
            ctx.settings.check_max_lag_s,
            "s",
            f"{FORCE_ORDER_CONNECTION}; {events[0] if events else 0} event(s) in the window",
        ),
        at_most(f"{stream.label} malformed", malformed or 0.0, 0, "", "frames in the window"),
    ]


_CONFLICTS = (
    "SELECT DISTINCT ON (table_name) table_name, count(*) OVER w, sum(conflicts) OVER w,"
    " key, differing, stored, incoming FROM key_conflicts"
    " WHERE last_seen > %(start)s AND last_seen <= %(now)s"
    " WINDOW w AS (PARTITION BY table_name) ORDER BY table_name, last_seen DESC"
)


def key_conflicts(ctx: CheckContext) -> list[Measurement]:
    """Per table, the keys whose differing row was not stored in the window (one line when there is none)."""
    rows = ctx.conn.execute(_CONFLICTS, {"start": ctx.window.start, "now": ctx.window.now}).fetchall()
    if not rows:
        return [at_most("storage key_conflicts", 0, 0, "", "keys received with another payload than stored")]
    out = []
    for table, keys, received, *sample in rows:
        latest = KeyConflict.from_row(table, (received, *sample))
        detail = f"{received} differing row(s) not stored; latest {latest.sample()}"
        out.append(at_most(f"storage/{table} key_conflicts", int(keys), 0, "", detail))
    return out


_WRITER = (
    "SELECT max(rows_inserted) - coalesce(max(rows_inserted) FILTER (WHERE ts <= %(start)s), 0),"
    " count(*) FILTER (WHERE ts > %(start)s), count(*) FILTER (WHERE ts > %(start)s AND spool_failing),"
    " (array_agg(coalesce(backlog_rows, 0) ORDER BY ts DESC))[1], (array_agg(spool_depth ORDER BY ts DESC))[1],"
    " (array_agg(last_error ORDER BY ts DESC) FILTER (WHERE ts > %(start)s AND last_error IS NOT NULL))[1]"
    " FROM writer_status WHERE ts > %(base_since)s AND ts <= %(now)s"
    " AND run_id IN (SELECT run_id FROM writer_status WHERE ts > %(start)s AND ts <= %(now)s)"
    " GROUP BY run_id"
)


def storage_writer(ctx: CheckContext) -> list[Measurement]:
    """Whether the storage writer wrote while it had rows, and whether its spool took batches."""
    w = ctx.window
    params = {"start": w.start, "now": w.now, "base_since": w.start - timedelta(seconds=COUNTER_BASE_S)}
    runs = ctx.conn.execute(_WRITER, params).fetchall()
    if not runs:
        none = "no writer_status snapshot in the window (is the bot running?)"
        return [
            at_least("storage writer rows_inserted", None, 1, "rows", none),
            at_most("storage writer spool_failing", None, 0, "", none),
        ]
    inserted = sum(int(r[0]) for r in runs)
    beats, failing = sum(int(r[1]) for r in runs), sum(int(r[2]) for r in runs)
    held, spooled = sum(int(r[3]) for r in runs), sum(int(r[4]) for r in runs)
    errors = [r[5] for r in runs if r[5]]
    queued = held > 0 or spooled > 0
    written = Measurement(
        "storage writer rows_inserted",
        inserted,
        1 if queued else None,
        ">=",
        "rows",
        inserted > 0 or not queued,
        f"{held} rows in memory and {spooled} spooled batch(es) at the latest heartbeat of {len(runs)} run(s)",
    )
    detail = f"of {beats} heartbeat(s)" + (f"; latest error: {errors[-1]}" if errors else "")
    return [written, at_most("storage writer spool_failing", failing, 0, "", detail)]


if __name__ == "__main__":
    sys.exit(main(NAME, check))
