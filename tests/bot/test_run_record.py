"""The run row is closed even when another process took the collection locks (stop cause `lost`)."""

from __future__ import annotations

import time

import psycopg

from cqt.bot.run_record import RunRecord, shard_keys


async def test_a_lost_run_is_still_closed_with_its_events(db: str) -> None:
    shards = shard_keys("sim", ["BTCUSDT"], ["KRW-BTC"])
    record = RunRecord(db, "sim", ["BTCUSDT"], shards)
    run_id = await record.open()
    # PostgreSQL restarts under the bot (its session and locks are gone) and another bot takes the shards
    assert record._conn is not None
    await record._conn.close()
    with psycopg.connect(db, autocommit=True) as other:
        for key in shards:
            assert other.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)
            ).fetchone() == (True,)
        record.event("binance-ws", "crash", "ConnectionResetError")
        started = time.monotonic()
        await record.close("lost", "locks taken by another process")
        assert time.monotonic() - started < 5
        row = other.execute(
            "SELECT stopped_at IS NOT NULL, stop_cause, stop_detail FROM bot_runs WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        events = other.execute("SELECT kind FROM bot_events WHERE run_id = %s", (run_id,)).fetchall()
    assert row == (True, "lost", "locks taken by another process")
    assert events == [("crash",)]
