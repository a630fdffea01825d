"""The writer survives any batch: bad rows are kept aside, good rows and later batches are stored, and
flush() has a deadline that says what it waited for."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from cqt.store.spool import Spool
from cqt.store.tables import SPECS
from cqt.store.writer import FlushTimeout, Writer
from tests.store.test_writer import T0, count, trade


def quote(i: int) -> tuple[object, ...]:
    ts = T0 + timedelta(milliseconds=11 * i)
    return ("binance", "BTCUSDT", i, ts, ts, 84_999.0, 1.0, 85_001.0, 2.0)


async def test_an_id_of_2_63_is_kept_aside_and_the_good_rows_are_stored(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.05)
    await writer.start()
    too_big = (*trade(0)[:2], 2**63, *trade(0)[3:])  # binary COPY cannot encode it as int8: OverflowError
    writer.put("trades", [trade(i) for i in range(1, 500)] + [too_big] + [trade(i) for i in range(500, 1000)])
    writer.put("quotes", [quote(i) for i in range(50)])
    await writer.flush()
    writer.put("trades", [trade(i) for i in range(1000, 1100)])  # a later batch
    await writer.flush()
    await writer.stop()

    assert count(db) == (1099, 1099)
    assert count(db, "SELECT count(*) FROM quotes") == (50,)
    assert writer.metrics.rejected_batches == 1 and writer.metrics.rejected_rows == 1
    kept = list((tmp_path / "spool" / "rejected").glob("*.batch"))
    assert len(kept) == 1
    (batch,) = Spool(tmp_path / "spool" / "rejected", 10**7).batches()
    assert batch.tables == {"trades": [too_big]}
    assert kept[0].with_suffix(".error").read_text().startswith("OverflowError: int too big to convert")


async def test_a_value_the_spool_cannot_encode_is_kept_aside_as_text(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    odd = (*trade(1)[:5], object(), *trade(1)[6:])  # neither COPY nor JSON can hold it
    writer.put("trades", [trade(0), odd])
    await writer.flush()
    writer.put("trades", [trade(2)])
    await writer.stop()
    assert count(db) == (2, 2)
    (kept,) = (tmp_path / "spool" / "rejected").glob("*.batch")
    assert "<object object at" in kept.read_text()
    assert "Python repr" in kept.with_suffix(".error").read_text()


async def test_flush_times_out_saying_what_it_waited_for(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.01)
    await writer.start()
    async with await psycopg.AsyncConnection.connect(db) as blocker:
        await blocker.execute("LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")  # the writer's INSERT waits on it
        writer.put("trades", [trade(i) for i in range(300)])
        writer.put("quotes", [quote(i) for i in range(20)])
        with pytest.raises(FlushTimeout) as timed_out:
            await writer.flush(timeout_s=0.5)
    message = str(timed_out.value)
    assert "after 0.5 s" in message and "320 rows" in message
    assert "quotes 20, trades 300" in message and "0 spooled batch(es)" in message
    assert "PostgreSQL connected" in message
    # the lock is gone (the blocker's transaction ended): the same rows go out, the writer went on
    await writer.flush()
    await writer.stop()
    assert count(db) == (300, 300)


async def test_flush_waits_for_rows_put_while_a_drain_runs(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.01)
    await writer.start()
    async with await psycopg.AsyncConnection.connect(db) as blocker:
        await blocker.execute("LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")
        writer.put("trades", [trade(i) for i in range(10)])
        await asyncio.sleep(0.3)  # a drain has taken those rows and waits on the lock
        writer.put("trades", [trade(i) for i in range(10, 20)])
        flushing = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.1)
    await flushing  # returns only after a drain that began after it: both parts are committed
    assert count(db) == (20, 20)
    await writer.stop()


async def test_an_unreadable_spool_file_is_set_aside_and_the_rest_replayed(db: str, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10**7)
    damaged = spool.append({"trades": [trade(0)]}, {"trades": SPECS["trades"].columns})
    damaged.write_text('{"table": "trades", "columns": [], "n": 1}\n["binance", "BTC')  # cut off mid-row
    spool.append({"trades": [trade(i) for i in range(1, 30)]}, {"trades": SPECS["trades"].columns})
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.05)
    await writer.start()
    writer.put("trades", [trade(i) for i in range(30, 40)])
    await writer.flush()
    await writer.stop()
    assert count(db) == (39, 39)
    assert writer.metrics.spool_depth == 0
    (kept,) = (tmp_path / "spool" / "rejected").glob("unreadable_*_000000000001.batch")
    assert kept.with_suffix(".error").read_text().startswith("JSONDecodeError")
