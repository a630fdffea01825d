"""Binance collector against the simulator and a real PostgreSQL: every trade stored exactly once
through gaps, duplicates, reordering, malformed frames and a dropped connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import psycopg

from cqt.collect.binance_backfill import agg_trades_range
from cqt.collect.binance_rest import BinanceRest
from cqt.collect.binance_ws import BinanceWsCollector, stream_url
from cqt.collect.id_gaps import IdGap
from cqt.sim import SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.writer import Writer

SYMBOL = "BTCUSDT"


def test_stream_url_is_the_current_combined_route() -> None:
    url = stream_url("wss://fstream.binance.com/market", ["BTCUSDT", "ETHUSDT"], ("aggTrade", "markPrice@1s"))
    assert url == (
        "wss://fstream.binance.com/market/stream?streams="
        "btcusdt@aggTrade/btcusdt@markPrice@1s/ethusdt@aggTrade/ethusdt@markPrice@1s"
    )


async def test_every_trade_once_through_faults(db: str, tmp_path: Path) -> None:
    cfg = SimConfig(seed=5, rate=300.0, binance_symbols=(SYMBOL,), upbit_symbols=("KRW-BTC",))
    with SimServer.in_thread(cfg) as sim:
        writer = Writer(db, Spool(tmp_path / "spool", 10**8), max_latency_s=0.1)
        await writer.start()
        filled: list[tuple[IdGap, bool]] = []
        async with aiohttp.ClientSession() as http:
            backfills: list[asyncio.Task[None]] = []

            async def fill(symbol: str, gap: IdGap) -> None:
                rest = BinanceRest(http, sim.urls.binance_rest)
                result = await agg_trades_range(rest, symbol, gap.from_id, gap.to_id)
                writer.put("trades", result.rows)
                filled.append((gap, result.complete))

            def on_gap(symbol: str, gap: IdGap) -> None:
                backfills.append(asyncio.create_task(fill(symbol, gap)))

            collector = BinanceWsCollector(
                sim.urls.binance_ws_market, sim.urls.binance_ws_public, [SYMBOL], writer.put, on_gap,
                gap_grace_ms=300, stall_timeout_s=5.0,
            )  # fmt: skip
            task = asyncio.create_task(collector.run())
            await asyncio.sleep(1.5)
            sim.faults.gap("binance", SYMBOL, count=7)
            sim.faults.duplicate("binance", count=5)
            sim.faults.reorder("binance", count=3)
            sim.faults.malformed("binance", count=2)
            await asyncio.sleep(1.5)
            sim.faults.drop("binance")
            await asyncio.sleep(2.5)
            collector.stop()
            await task
            await asyncio.gather(*backfills)
        await writer.stop()
        ledger = sim.ledger.binance_trade_ids(SYMBOL)

    with psycopg.connect(db) as conn:
        stored = [r[0] for r in conn.execute("SELECT trade_id FROM trades ORDER BY trade_id")]
        marks = conn.execute("SELECT count(*) FROM mark_price").fetchone()
        quotes = conn.execute("SELECT count(*) FROM quotes").fetchone()
    assert len(stored) > 100
    expected = [i for i in ledger if stored[0] <= i <= stored[-1]]
    assert stored == expected  # nothing missing; the primary key rules out duplicates
    assert filled and all(complete for _, complete in filled)
    assert sum(g.size for g, _ in filled) >= 7
    assert sum(collector.malformed.values()) >= 1
    assert sum(s.stats.reconnects for s in collector.sessions) >= 1
    # duplicated frames (of whichever stream the fault hit) were absorbed by the natural keys
    assert writer.metrics.rows_written - writer.metrics.rows_inserted >= 1
    assert marks is not None and marks[0] >= 3
    assert quotes is not None and quotes[0] > 10
