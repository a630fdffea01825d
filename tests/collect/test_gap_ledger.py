"""Gap ledger rows through the real writer: open then close, and a replayed open never reopens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from cqt.collect.gap_ledger import Gap, GapLedger
from cqt.store.spool import Spool
from cqt.store.writer import Writer

T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


async def test_open_then_close_keeps_the_closed_row(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.05)
    await writer.start()
    ledger = GapLedger(writer.put)
    closed: list[tuple[Gap, bool]] = []
    ledger.on_close(lambda g, ok: closed.append((g, ok)))
    filled = Gap("binance", "BTCUSDT", "aggTrade", T0, T0 + timedelta(seconds=2), 10, 14, "id hole")
    lost = Gap("upbit", "KRW-BTC", "trade", T0, T0 + timedelta(seconds=30), reason="reconnect")
    ledger.open(filled)
    ledger.open(lost)
    await writer.flush()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM gaps WHERE status = 'open'").fetchone() == (2,)
    ledger.close(filled, 5, complete=True)
    ledger.close(lost, 3, complete=False)
    # a late replay of the "open" row (e.g. from the spool) must not reopen the gap
    writer.put("gaps", [GapLedger._row(filled, "open", T0, None, 0, 0)])
    await writer.stop()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT symbol, status, from_id, to_id, filled_count, closed_at IS NOT NULL, opened_at <= closed_at"
            " FROM gaps ORDER BY symbol"
        ).fetchall()
    assert rows == [
        ("BTCUSDT", "filled", 10, 14, 5, True, True),
        ("KRW-BTC", "unfillable", None, None, 3, True, True),
    ]
    assert closed == [(filled, True), (lost, False)]
    assert (ledger.counts.opened, ledger.counts.filled, ledger.counts.unfillable) == (2, 1, 1)
    assert ledger.open_gaps == []
