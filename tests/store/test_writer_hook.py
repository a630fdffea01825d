"""The writer's commit hook: called once per committed batch, after the commit, with the commit time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from cqt.store.spool import Batch, Spool
from cqt.store.writer import Writer

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def trade(i: int) -> tuple[object, ...]:
    ts = T0 + timedelta(milliseconds=10 * i)
    return ("binance", "BTCUSDT", i, ts, ts, 85_000.0 + i, 0.01, 1)


def stored_trades(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM trades").fetchone()
        assert row is not None
        return int(row[0])


async def test_hook_sees_each_committed_batch_after_its_commit(db: str, tmp_path: Path) -> None:
    calls: list[tuple[Batch, float, int]] = []

    def hook(batch: Batch, committed_at: float) -> None:
        # Another session sees the rows only if the transaction has committed before the hook runs.
        calls.append((batch, committed_at, stored_trades(db)))

    writer = Writer(db, Spool(tmp_path / "spool", 1 << 20), on_commit=hook)
    before = time.time()
    writer.put("trades", [trade(i) for i in range(3)])
    await writer.flush()
    writer.put("trades", [trade(i) for i in range(3, 5)])
    await writer.stop()
    after = time.time()

    assert [sorted(b) for b, _, _ in calls] == [["trades"], ["trades"]]
    assert [[r[2] for r in b["trades"]] for b, _, _ in calls] == [[0, 1, 2], [3, 4]]
    assert [visible for _, _, visible in calls] == [3, 5]
    first, second = calls[0][1], calls[1][1]
    assert before <= first <= second <= after


async def test_hook_is_not_called_for_a_batch_that_was_only_spooled(tmp_path: Path) -> None:
    calls: list[float] = []
    unreachable = "host=127.0.0.1 port=1 dbname=none connect_timeout=1"
    writer = Writer(unreachable, Spool(tmp_path / "spool", 1 << 20), on_commit=lambda _b, t: calls.append(t))
    writer.put("trades", [trade(0)])
    await writer.stop()
    assert writer.metrics.spooled_batches == 1
    assert calls == []
