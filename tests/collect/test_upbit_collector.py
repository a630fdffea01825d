"""Upbit collector against the simulator and a real PostgreSQL: every trade stored exactly once through
dropped and stalled connections, withheld trades, duplicated, reordered and malformed frames; the PING
keep-alive; REST cursor paging."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from cqt.collect.gap_ledger import GapLedger
from cqt.collect.rows import Row
from cqt.collect.upbit_backfill import trades_between
from cqt.collect.upbit_ws import RecentTrades, UpbitWsCollector
from cqt.sim import SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.writer import Writer
from tests.ledger_check import check_trades

MARKETS = ("KRW-BTC", "KRW-ETH")


@dataclass
class Outcome:
    collector: UpbitWsCollector
    gaps: GapLedger
    ledger_ids: dict[str, list[int]]
    sunk: Counter[tuple[str, int]]


async def collect(
    db: str,
    tmp_path: Path,
    during: Callable[[SimServer, UpbitWsCollector], Awaitable[None]],
    cfg: SimConfig | None = None,
    **options: Any,
) -> Outcome:
    """Run a collector on MARKETS into PostgreSQL while `during` drives the simulator."""
    cfg = cfg or SimConfig(seed=11, rate=300.0, upbit_symbols=MARKETS)
    sunk: Counter[tuple[str, int]] = Counter()
    with SimServer.in_thread(cfg) as sim:
        writer = Writer(db, Spool(tmp_path / "spool", 10**8), max_latency_s=0.1)
        await writer.start()

        def sink(table: str, rows: list[Row]) -> None:
            if table == "trades":
                sunk.update((r[1], r[2]) for r in rows)
            writer.put(table, rows)

        gaps = GapLedger(writer.put)
        collector = UpbitWsCollector(
            sim.urls.upbit_ws, sim.urls.upbit_rest, list(MARKETS), sink, gaps, **options
        )
        task = asyncio.create_task(collector.run())
        await during(sim, collector)
        collector.stop()
        await task
        await writer.stop()
        ledger_ids = {m: sim.ledger.upbit_trade_ids(m) for m in MARKETS}
    return Outcome(collector, gaps, ledger_ids, sunk)


def assert_every_trade_once(db: str, out: Outcome, case: str) -> None:
    """Stored ids per market == the simulator's ids over the stored range; each trade sunk exactly once.
    The floor is low: KRW-ETH trades a few times a second, and how often depends on the run's start."""
    for market, ledger_ids in out.ledger_ids.items():
        check_trades(db, case, "upbit", market, ledger_ids, minimum=8)
    assert max(out.sunk.values()) == 1


def gap_rows(db: str) -> list[tuple[str, str, str, str, int]]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT symbol, stream, status, reason, filled_count FROM gaps ORDER BY symbol, start_ts"
        ).fetchall()


def test_subscription_covers_every_type_with_a_fresh_ticket() -> None:
    collector = UpbitWsCollector("ws://x", "http://x", ["krw-btc", "KRW-ETH"], lambda t, r: None, GapLedger(
        lambda t, r: None), orderbook_depth=15)  # fmt: skip
    first, second = json.loads(collector.subscription()), json.loads(collector.subscription())
    assert first[1:] == [
        {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]},
        {"type": "orderbook", "codes": ["KRW-BTC.15", "KRW-ETH.15"]},
        {"type": "ticker", "codes": ["KRW-BTC", "KRW-ETH"]},
        {"format": "DEFAULT"},
    ]
    assert first[0]["ticket"] != second[0]["ticket"]


def test_control_error_and_malformed_frames_are_counted_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    sunk: list[tuple[str, list[Row]]] = []
    collector = UpbitWsCollector("ws://x", "http://x", ["KRW-BTC"], lambda t, r: sunk.append((t, r)), GapLedger(
        lambda t, r: None))  # fmt: skip
    trade = {"type": "trade", "code": "KRW-BTC", "trade_price": 1.5e8, "trade_volume": 0.01, "ask_bid": "BID",
             "trade_timestamp": 1_771_247_814_642, "sequential_id": 17_712_478_146_420_000}  # fmt: skip
    recv = datetime.now(UTC)
    frames: list[object] = [
        {"status": "UP"},
        {"error": {"name": "INVALID_PARAM", "message": "bad"}},
        {"type": "ticker", "code": "KRW-BTC", "timestamp": 1_771_247_814_700},
        {**trade, "code": "KRW-XRP"},
        {"type": "candle.1s", "code": "KRW-BTC"},
        [trade],
        trade,
        trade,
    ]
    for frame in frames:
        collector._on_frame(json.dumps(frame).encode(), recv)
    collector._on_frame(b'{"type":"trade","code":', recv)
    assert collector.messages == Counter({"status": 1, "ticker": 1, "trade": 2})
    assert collector.malformed == Counter({"error": 1, "trade": 1, "unexpected": 1, "unparsed": 2})
    assert "INVALID_PARAM" in caplog.text
    assert [(t, [r[2] for r in rows]) for t, rows in sunk] == [("trades", [17_712_478_146_420_000])]
    assert collector.last_event_ms == {"ticker": 1_771_247_814_700, "trade": 1_771_247_814_642}


def test_recent_trades_forget_by_trade_time() -> None:
    recent = RecentTrades(timedelta(minutes=15))
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    assert recent.first_time("KRW-BTC", 1, t0)
    assert not recent.first_time("KRW-BTC", 1, t0)
    assert recent.first_time("KRW-ETH", 1, t0)  # ids are per market
    for minute in range(1, 31):
        assert recent.first_time("KRW-BTC", 100 + minute, t0 + timedelta(minutes=minute))
    assert len(recent) == 16  # minutes 15..30
    assert ("KRW-BTC", 1) not in recent and ("KRW-BTC", 115) in recent
    assert recent.horizon == t0 + timedelta(minutes=15)


async def test_steady_run_stores_trades_and_quotes(db: str, tmp_path: Path) -> None:
    async def during(sim: SimServer, collector: UpbitWsCollector) -> None:
        await asyncio.sleep(3.0)

    out = await collect(db, tmp_path, during, compare_every_s=1.0, gap_grace_ms=500)
    assert_every_trade_once(db, out, "upbit steady")
    with psycopg.connect(db) as conn:
        quotes = conn.execute("SELECT count(*), count(DISTINCT symbol) FROM quotes").fetchone()
    assert quotes is not None and quotes[0] > 10 and quotes[1] == len(MARKETS)
    assert {"trade", "orderbook", "ticker"} <= set(out.collector.messages)
    assert not out.collector.malformed
    assert {"trade", "orderbook", "ticker"} <= set(out.collector.last_event_ms)
    assert gap_rows(db) == []  # nothing was lost, so the REST comparison found nothing


async def test_dropped_connection_reconnects_and_fills_the_outage(db: str, tmp_path: Path) -> None:
    dropped_at: list[float] = []

    async def during(sim: SimServer, collector: UpbitWsCollector) -> None:
        await asyncio.sleep(1.5)
        dropped_at.append(time.time())
        sim.faults.drop("upbit")
        await asyncio.sleep(2.5)

    out = await collect(db, tmp_path, during, compare_every_s=60.0)
    assert_every_trade_once(db, out, "upbit drop")
    stats = out.collector.sessions[0].stats
    assert stats.reconnects >= 1 and stats.connects >= 2
    with psycopg.connect(db) as conn:
        latest = conn.execute("SELECT extract(epoch FROM max(ts)) FROM trades").fetchone()
    assert latest is not None and float(latest[0]) > dropped_at[0] + 1.0  # resubscribed: trades flow again
    rows = gap_rows(db)
    assert {m for m, *_ in rows} == set(MARKETS)
    assert all(
        (stream, status, reason) == ("trade", "filled", "reconnect") for _, stream, status, reason, _ in rows
    )
    # the session reconnects at once, so the outage is milliseconds long and may have lost nothing


async def test_stall_without_close_is_detected_and_filled(db: str, tmp_path: Path) -> None:
    async def during(sim: SimServer, collector: UpbitWsCollector) -> None:
        await asyncio.sleep(1.5)
        sim.faults.stall("upbit", seconds=3.0)
        await asyncio.sleep(3.5)

    out = await collect(db, tmp_path, during, stall_timeout_s=1.0, compare_every_s=60.0)
    assert_every_trade_once(db, out, "upbit stall")
    assert out.collector.sessions[0].stats.stalls >= 1
    rows = gap_rows(db)
    assert rows and all((status, reason) == ("filled", "reconnect") for _, _, status, reason, _ in rows)
    assert sum(filled for *_, filled in rows) >= 10  # a second of silence at ~45 trades/s


async def test_withheld_trades_are_found_by_rest_comparison(db: str, tmp_path: Path) -> None:
    found_while_running: list[int] = []
    withheld: list[int] = []

    async def during(sim: SimServer, collector: UpbitWsCollector) -> None:
        await asyncio.sleep(1.0)
        sim.faults.gap("upbit", "KRW-BTC", count=7)
        await asyncio.sleep(2.5)
        found_while_running.append(collector.ledger.counts.filled)
        withheld.extend(sim.ledger.withheld_ids("upbit", "KRW-BTC"))

    out = await collect(db, tmp_path, during, compare_every_s=0.5, gap_grace_ms=500)
    assert_every_trade_once(db, out, "upbit withheld trades")
    assert found_while_running[0] >= 1  # by the periodic comparison, not only the one at shutdown
    rows = gap_rows(db)
    # the 7 trades are withheld over a few ticks, so a comparison may see them in two windows
    assert {row[:4] for row in rows} == {("KRW-BTC", "trade", "filled", "rest-compare")}
    assert sum(row[4] for row in rows) == 7
    assert len(withheld) == 7
    with psycopg.connect(db) as conn:
        got = conn.execute("SELECT count(*) FROM trades WHERE trade_id = ANY(%s)", (withheld,)).fetchone()
    assert got == (7,)


async def test_duplicated_reordered_and_malformed_frames(db: str, tmp_path: Path) -> None:
    async def during(sim: SimServer, collector: UpbitWsCollector) -> None:
        await asyncio.sleep(1.0)
        sim.faults.duplicate("upbit", count=30)
        sim.faults.reorder("upbit", count=10)
        sim.faults.malformed("upbit", count=3)
        await asyncio.sleep(2.0)
        assert sim.ledger.faults_applied["duplicate"] == 30
        assert sim.ledger.faults_applied["reorder"] == 10

    out = await collect(db, tmp_path, during, compare_every_s=0.5)
    assert_every_trade_once(db, out, "upbit duplicate, reorder, malformed")
    # three hostile copies (sim.faults.hostile_frame): the truncated one and any the wire rule rejects are
    # counted; a microsecond copy reads as its original and is absorbed as a duplicate
    assert 1 <= sum(out.collector.malformed.values()) <= 3
    assert gap_rows(db) == []  # reordering within the grace period is not a hole


async def test_ping_keeps_an_idle_connection_open() -> None:
    """The simulator closes a connection after `upbit_idle_timeout_s` with nothing sent either way. A market
    the venue does not list is accepted and silent, so the only traffic is the keep-alive."""
    cfg = SimConfig(seed=3, rate=50.0, upbit_symbols=("KRW-BTC",), upbit_idle_timeout_s=1.5)

    async def run(sim: SimServer, keepalive_s: float) -> UpbitWsCollector:
        collector = UpbitWsCollector(
            sim.urls.upbit_ws, sim.urls.upbit_rest, ["KRW-NOPE"], lambda t, r: None, GapLedger(lambda t, r: None),
            keepalive_s=keepalive_s, stall_timeout_s=30.0,
        )  # fmt: skip
        task = asyncio.create_task(collector.run())
        await asyncio.sleep(4.0)
        collector.stop()
        await task
        return collector

    with SimServer.in_thread(cfg) as sim:
        pinging, silent = await asyncio.gather(run(sim, 0.5), run(sim, 100.0))
    assert pinging.sessions[0].stats.connects == 1
    assert pinging.sessions[0].stats.reconnects == 0
    assert pinging.messages["status"] >= 5  # {"status":"UP"} answers
    assert not pinging.malformed
    assert silent.sessions[0].stats.reconnects >= 1  # the control: without PING the idle close happens


async def test_trades_between_pages_with_cursor_and_equals_the_ledger() -> None:
    """Three or more pages under a 2 requests/s limit: `Remaining-Req` is obeyed (no 429 provoked), 429s
    are retried, a range older than Upbit serves and a REST that keeps failing come back incomplete."""
    cfg = SimConfig(seed=5, rate=6000.0, upbit_symbols=("KRW-BTC",), upbit_rest_per_s=2)
    statuses: list[int] = []

    async def on_end(_: object, __: object, params: aiohttp.TraceRequestEndParams) -> None:
        statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    with SimServer.in_thread(cfg) as sim:
        await asyncio.sleep(3.0)
        trades = sim.ledger.upbit_trades("KRW-BTC")
        times = [int(t) for t in trades.T]
        start, end = times[10], times[-20]
        expected = sorted(int(s) for s, t in zip(trades.seq_id, times, strict=True) if start <= t <= end)
        assert len(expected) > 1000  # at least three pages of 500
        async with aiohttp.ClientSession(trace_configs=[trace]) as http:
            clean = await trades_between(http, sim.urls.upbit_rest, "KRW-BTC", start, end)
            clean_statuses = list(statuses)
            sim.faults.http_error("upbit", status=429, count=2, path="/v1/trades/ticks")
            retried = await trades_between(http, sim.urls.upbit_rest, "KRW-BTC", start, end)
            now_ms = time.time_ns() // 1_000_000
            too_old = await trades_between(
                http, sim.urls.upbit_rest, "KRW-BTC", now_ms - 9 * 86_400_000, now_ms - 8 * 86_400_000
            )
            sim.faults.http_error("upbit", status=500, count=100, path="/v1/trades/ticks")
            failing = await trades_between(http, sim.urls.upbit_rest, "KRW-BTC", start, end)
    assert sorted(r[2] for r in clean.rows) == expected
    assert clean.complete
    assert all(r[0] == "upbit" and r[1] == "KRW-BTC" and r[4] >= r[3] for r in clean.rows)
    assert len(clean_statuses) >= 3 and set(clean_statuses) == {200}
    assert statuses[len(clean_statuses) :][:2] == [429, 429]
    assert sorted(r[2] for r in retried.rows) == expected and retried.complete
    assert too_old.rows == [] and not too_old.complete  # Upbit serves 7 days
    assert failing.rows == [] and not failing.complete
    assert statuses[-5:] == [500] * 5  # five attempts, paced below the limit, then given up
