"""The storage writer against real PostgreSQL: idempotent, bounded latency, nothing lost on outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cqt.db import embedded
from cqt.store.spool import Spool
from cqt.store.tables import MARKET_1S, SPECS
from cqt.store.writer import Writer

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def trade(i: int, symbol: str = "BTCUSDT") -> tuple[object, ...]:
    ts = T0 + timedelta(milliseconds=37 * i)
    return (
        "binance",
        symbol,
        i,
        ts,
        ts + timedelta(milliseconds=5),
        85_000 + i * 0.1,
        0.001 * (1 + i % 7),
        1 - 2 * (i % 2),
    )


def bar(revision: int, close: float) -> tuple[object, ...]:
    values: dict[str, object] = dict.fromkeys(MARKET_1S.columns)
    values.update(
        exchange="binance", symbol="BTCUSDT", ts=T0, recv_ts=T0, open=1.0, high=close, low=1.0, close=close,
        volume=1.0, notional=close, buy_volume=1.0, sell_volume=0.0, n_trades=1, stale=False, gap=False,
        revision=revision,
    )  # fmt: skip
    return tuple(values[c] for c in MARKET_1S.columns)


def count(
    conninfo: str, sql: str = "SELECT count(*), count(DISTINCT trade_id) FROM trades"
) -> tuple[int, ...]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return tuple(int(v) for v in row)


async def drain_after_recovery(writer: Writer) -> None:
    """Flush until the spool and the in-memory backlog are empty (at most ~10 s), then stop."""
    for _ in range(100):
        await writer.flush()
        if writer.metrics.spool_depth == 0 and writer.backlog_rows == 0:
            break
        await asyncio.sleep(0.1)
    await writer.stop()


def test_specs_match_the_migrated_schema(db: str) -> None:
    with psycopg.connect(db) as conn:
        for spec in SPECS.values():
            rows = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a"
                " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                (spec.name,),
            ).fetchall()
            actual = dict(rows)
            aliases = {"int8": "bigint", "int4": "integer", "int2": "smallint", "float8": "double precision",
                       "bool": "boolean", "timestamptz": "timestamp with time zone", "text": "text"}  # fmt: skip
            for column, typ in zip(spec.columns, spec.types, strict=True):
                assert actual.get(column) == aliases[typ], (spec.name, column)
            unique_keys = conn.execute(
                "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                " WHERE i.indrelid = %s::regclass AND i.indisunique GROUP BY i.indexrelid",
                (spec.name,),
            ).fetchall()
            assert sorted(spec.key) in [row[0] for row in unique_keys], spec.name


async def test_duplicates_are_absorbed_by_natural_keys(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_batch_rows=500)
    await writer.start()
    rows = [trade(i) for i in range(3000)]
    writer.put("trades", rows[:2000])
    writer.put("trades", rows[1000:])  # overlap: 1000 duplicates
    writer.put("trades", rows[:10])  # and again
    await writer.stop()
    assert count(db) == (3000, 3000)
    assert writer.metrics.rows_written == 4010
    assert writer.metrics.rows_inserted == 3000
    assert writer.metrics.spool_depth == 0


async def test_latency_is_bounded_without_reaching_batch_size(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_batch_rows=10**6, max_latency_s=0.1)
    await writer.start()
    writer.put("trades", [trade(1)])
    await asyncio.sleep(0.6)
    try:
        assert count(db) == (1, 1)
    finally:
        await writer.stop()


async def test_bar_revisions_keep_the_latest(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    writer.put("market_1s", [bar(0, 10.0), bar(2, 12.0), bar(1, 11.0)])  # one batch, out of order
    await writer.flush()
    writer.put("market_1s", [bar(1, 99.0)])  # an older revision arriving late must not win
    await writer.flush()
    await writer.stop()
    assert count(db, "SELECT revision, close FROM market_1s") == (2, 12)


async def test_rejected_content_is_kept_aside_and_does_not_block(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    bad = list(trade(1))
    bad[5] = -1.0  # price must be > 0 (CHECK constraint)
    writer.put("trades", [tuple(bad)])
    await writer.flush()
    writer.put("trades", [trade(2)])
    await writer.flush()
    await writer.stop()
    assert writer.metrics.rejected_batches == 1
    assert count(db) == (1, 1)
    kept = list((tmp_path / "spool" / "rejected").glob("*.batch"))
    assert len(kept) == 1 and "price" in kept[0].with_suffix(".error").read_text()


async def test_outage_spools_then_replays_in_order(own_server: tuple[Path, str], tmp_path: Path) -> None:
    data_dir, conninfo = own_server
    writer = Writer(conninfo, Spool(tmp_path / "spool", 10**8), max_latency_s=0.05, reconnect_max_s=0.2)
    await writer.start()
    writer.put("trades", [trade(i) for i in range(0, 1000)])
    await writer.flush()
    assert count(conninfo) == (1000, 1000)

    embedded.stop(data_dir)
    for start in range(1000, 5000, 1000):
        writer.put("trades", [trade(i) for i in range(start, start + 1000)])
        await writer.flush()
    assert writer.metrics.spool_depth >= 1
    assert not writer.metrics.connected

    embedded.start(data_dir)
    writer.put("trades", [trade(i) for i in range(5000, 6000)])
    await drain_after_recovery(writer)
    assert count(conninfo) == (6000, 6000)
    assert writer.metrics.replayed_batches >= 1
    assert writer.metrics.spool_depth == 0


async def test_full_spool_holds_rows_in_memory_and_alarms(
    own_server: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir, conninfo = own_server
    writer = Writer(conninfo, Spool(tmp_path / "spool", 3_000), max_latency_s=0.05, reconnect_max_s=0.2)
    await writer.start()
    embedded.stop(data_dir)
    for start in range(0, 300, 100):
        writer.put("trades", [trade(i) for i in range(start, start + 100)])
        await writer.flush()
    assert writer.metrics.spool_full_alarms >= 1
    assert writer.backlog_rows > 0
    assert any("ALARM" in r.message and r.levelname == "CRITICAL" for r in caplog.records)

    embedded.start(data_dir)
    await drain_after_recovery(writer)
    assert count(conninfo) == (300, 300)


async def test_spool_left_by_a_previous_run_is_replayed_on_start(db: str, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10**7)
    spool.append({"trades": [trade(i) for i in range(50)]}, {"trades": SPECS["trades"].columns})
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.05)
    await writer.start()
    writer.put("trades", [trade(i) for i in range(50, 60)])
    await writer.flush()
    await writer.stop()
    assert count(db) == (60, 60)


async def test_stop_without_start_still_writes_what_was_put(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    writer.put("trades", [trade(i) for i in range(5)])
    await writer.stop()
    assert count(db) == (5, 5)


async def test_rows_put_during_the_last_drain_are_written_at_stop(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7), max_latency_s=0.01)
    await writer.start()
    async with await psycopg.AsyncConnection.connect(db) as blocker:
        await blocker.execute("LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")  # the first drain waits on it
        writer.put("trades", [trade(i) for i in range(2000)])
        flushing = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.5)
        writer.put("trades", [trade(i) for i in range(2000, 2100)])  # arrives while that drain runs
        stopping = asyncio.create_task(writer.stop())
        await asyncio.sleep(0.2)
    await stopping
    await flushing
    assert count(db) == (2100, 2100)
