"""Snapshots of the collectors' counters for `stream_status` and `writer_status` (migrations 0005, 0007).

The run record writes one snapshot with every heartbeat, so the checks, the gates and the dashboard, which
run in other processes, see reconnects, malformed frames and the spool without scraping Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cqt.collect.collection import Collection
from cqt.collect.rows import ms_to_dt
from cqt.store.writer import Writer

StreamRow = tuple[datetime, str, str, str, int, int, int, int, datetime | None, datetime | None]
# ts, rows_inserted, spool_depth, db_up, last_batch_ms, max_batch_ms, backlog_rows, spool_failing, last_error
WriterRow = tuple[datetime, int, int, bool, float, float, int, bool, str | None]


@dataclass
class Snapshot:
    """The rows of one heartbeat (the run id is added when they are written)."""

    streams: list[StreamRow]
    writer: WriterRow


def take(col: Collection) -> Snapshot:
    """The collectors' and the writer's counters now."""
    now = datetime.now(UTC)
    streams: list[StreamRow] = []
    for exchange, coll in (("upbit", col.upbit), ("binance", col.binance)):
        if coll is None:
            continue
        for stream in sorted(set(coll.messages) | set(coll.malformed)):
            session = coll.session_for(stream)
            last = coll.last_event_ms.get(stream)
            streams.append((
                now, exchange, stream, session.name, coll.messages[stream], coll.malformed[stream],
                session.stats.reconnects, session.stats.stalls,
                ms_to_dt(last) if last is not None else None, session.stats.last_recv,
            ))  # fmt: skip
    return Snapshot(streams, writer_row(col.writer, now))


def writer_row(writer: Writer, now: datetime) -> WriterRow:
    """The writer's `writer_status` row at `now`."""
    w = writer.metrics
    return (
        now, w.rows_inserted, w.spool_depth, w.connected,
        w.last_batch_latency_s * 1000, w.max_batch_latency_s * 1000,
        writer.backlog_rows, w.spool_error is not None, w.spool_error,
    )  # fmt: skip
