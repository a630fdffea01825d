"""Issue-5 acceptance: the whole collection (collectors -> bars, gap ledger -> writer -> PostgreSQL)
against the simulator. Each fault is its own test and ends with zero missing and zero duplicate trade
ids (the ledger of what the simulator sent is the reference; the primary key rules out duplicates), and
`market_1s` equal to the batch kernel's bars over the stored trades."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from cqt.bars import Quotes, trade_bars
from cqt.collect.collection import Collection, Tuning
from cqt.collect.rows import dt_to_ms
from cqt.config import load_settings
from cqt.db import embedded
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.ledger_check import check_trades

BTC, KRW_BTC = "BTCUSDT", "KRW-BTC"
TRADE_FIELDS = ("open", "high", "low", "close", "volume", "notional", "buy_volume", "sell_volume", "n_trades")
QUOTE_FIELDS = ("bid_close", "ask_close")

Script = Callable[[SimServer], Awaitable[None]]


async def collect(
    sim: SimServer, conninfo: str, spool: Path, script: Script, tuning: Tuning | None = None
) -> Collection:
    """Run a Collection against `sim` while `script` injects faults; shut down when it returns."""
    env = {k.lower(): v for k, v in sim.urls.as_env().items()}
    settings = load_settings(
        None, **env, binance_symbols=[BTC], upbit_markets=[KRW_BTC], coinglass_api_key=SIM_COINGLASS_KEY,
        coinglass_poll_s=5.0,
    )  # fmt: skip
    tuning = tuning or Tuning(stall_timeout_s=3.0, gap_grace_ms=300, bar_grace_ms=500, bar_lateness_ms=5_000,
                              upbit_compare_every_s=1.0, binance_fast_every_s=1.0, write_latency_s=0.1)  # fmt: skip
    collection = Collection(settings, conninfo, spool, tuning)
    until = asyncio.Event()
    runner = asyncio.create_task(collection.run(until))
    await script(sim)
    until.set()
    await runner
    return collection


def assert_trades_exact(
    conninfo: str, sim: SimServer, exchange: str, symbol: str, minimum: int = 50, case: str = "steady"
) -> None:
    sent = (
        sim.ledger.binance_trade_ids(symbol) if exchange == "binance" else sim.ledger.upbit_trade_ids(symbol)
    )
    check_trades(conninfo, case, exchange, symbol, sent, minimum=minimum)


def batch_bars(conn: psycopg.Connection[Any], exchange: str, symbol: str) -> dict[str, np.ndarray[Any, Any]]:
    trades = conn.execute(
        "SELECT ts, price, qty, side FROM trades WHERE exchange = %s AND symbol = %s ORDER BY ts, trade_id",
        (exchange, symbol),
    ).fetchall()
    quotes = conn.execute(
        "SELECT ts, bid_price, bid_qty, ask_price, ask_qty FROM quotes WHERE exchange = %s AND symbol = %s"
        " ORDER BY ts, seq",
        (exchange, symbol),
    ).fetchall()
    return trade_bars(
        [dt_to_ms(t[0]) for t in trades], [t[1] for t in trades], [t[2] for t in trades], [t[3] > 0 for t in trades],
        quotes=Quotes(np.zeros(len(quotes), np.uint32), [dt_to_ms(q[0]) for q in quotes], [q[1] for q in quotes],
                      [q[2] for q in quotes], [q[3] for q in quotes], [q[4] for q in quotes]),
    )  # fmt: skip


def assert_bars_match(
    conninfo: str, exchange: str, symbol: str, fields: tuple[str, ...] = TRADE_FIELDS
) -> None:
    """market_1s == the batch kernel over the stored trades (and quotes), second by second."""
    with psycopg.connect(conninfo) as conn:
        ref = batch_bars(conn, exchange, symbol)
        query = sql.SQL(
            "SELECT ts, {} FROM market_1s WHERE exchange = %s AND symbol = %s ORDER BY ts"
        ).format(sql.SQL(", ").join(map(sql.Identifier, fields)))
        rows = conn.execute(query, (exchange, symbol)).fetchall()
    assert [dt_to_ms(r[0]) for r in rows] == ref["ts"].tolist(), "bar seconds differ from the batch kernel"
    for i, row in enumerate(rows):
        for name, have in zip(fields, row[1:], strict=True):
            want = ref[name][i].item()
            ok = (have is None and math.isnan(want)) or have == pytest.approx(want, rel=1e-9, abs=1e-12)
            assert ok, f"{exchange} {symbol} bar {row[0]} {name}: stored {have}, batch {want}"


def gap_statuses(conninfo: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT exchange, symbol, status FROM gaps ORDER BY id").fetchall()


def sim_config(**kw: Any) -> SimConfig:
    return SimConfig(seed=11, rate=300.0, binance_symbols=(BTC,), upbit_symbols=(KRW_BTC,), **kw)


async def test_steady_run_stores_every_trade_once_and_bars_equal_the_batch_kernel(
    db: str, tmp_path: Path
) -> None:
    async def script(sim: SimServer) -> None:
        await asyncio.sleep(6)

    with SimServer.in_thread(sim_config()) as sim:
        col = await collect(sim, db, tmp_path / "spool", script)
        for exchange, symbol in (("binance", BTC), ("upbit", KRW_BTC)):
            assert_trades_exact(db, sim, exchange, symbol)
    for exchange, symbol in (("binance", BTC), ("upbit", KRW_BTC)):
        assert_bars_match(db, exchange, symbol, TRADE_FIELDS + QUOTE_FIELDS)
    assert gap_statuses(db) == []
    with psycopg.connect(db) as conn:
        counts = dict(conn.execute(
            "SELECT 'marks', count(*) FROM mark_price UNION ALL SELECT 'metrics', count(*) FROM metrics"
            " UNION ALL SELECT 'coinglass_ok', count(*) FROM coinglass_call_status WHERE ok"
        ).fetchall())  # fmt: skip
    assert counts["marks"] >= 3 and counts["metrics"] >= 10 and counts["coinglass_ok"] >= 4, counts
    assert col.writer.metrics.spool_depth == 0 and col.bars.late_dropped == 0


@pytest.mark.parametrize(
    "fault",
    ["drop", "stall", "gap", "duplicate_reorder", "malformed"],
)
async def test_binance_fault_loses_nothing(fault: str, db: str, tmp_path: Path) -> None:
    async def script(sim: SimServer) -> None:
        await asyncio.sleep(2)
        if fault == "drop":
            sim.faults.drop("binance")
        elif fault == "stall":
            sim.faults.stall("binance", seconds=6.0)
        elif fault == "gap":
            sim.faults.gap("binance", BTC, count=9)
        elif fault == "duplicate_reorder":
            sim.faults.duplicate("binance", count=20)
            sim.faults.reorder("binance", count=10)
        else:
            sim.faults.malformed("binance", count=5)
        await asyncio.sleep(6 if fault == "stall" else 4)

    with SimServer.in_thread(sim_config()) as sim:
        col = await collect(sim, db, tmp_path / "spool", script)
        assert_trades_exact(db, sim, "binance", BTC, case=f"binance {fault}")
        assert_trades_exact(db, sim, "upbit", KRW_BTC, case=f"binance {fault}")
    assert col.bars.late_dropped == 0, col.bars.late_dropped
    assert_bars_match(db, "binance", BTC)
    assert col.binance is not None
    gaps = gap_statuses(db)
    assert all(status == "filled" for _, _, status in gaps), gaps
    stats = [s.stats for s in col.binance.sessions]
    if fault == "drop":
        assert sum(s.reconnects for s in stats) >= 1
    elif fault == "stall":
        assert sum(s.stalls for s in stats) >= 1
    elif fault == "gap":
        assert ("binance", BTC, "filled") in gaps
        assert col.ledger.counts.rows_filled >= 9
    elif fault == "duplicate_reorder":
        assert col.writer.metrics.rows_written > col.writer.metrics.rows_inserted  # duplicates absorbed
    else:
        assert sum(col.binance.malformed.values()) >= 1


async def test_binance_24h_close_with_shortened_lifetime_is_covered_by_rotation(
    db: str, tmp_path: Path
) -> None:
    async def script(sim: SimServer) -> None:
        await asyncio.sleep(12)

    tuning = Tuning(venues=("binance",), stall_timeout_s=5.0, gap_grace_ms=300, bar_grace_ms=500,
                    bar_lateness_ms=5_000, binance_rotate_after_s=3.0, write_latency_s=0.1)  # fmt: skip
    with SimServer.in_thread(sim_config(binance_lifetime_s=5.0)) as sim:
        col = await collect(sim, db, tmp_path / "spool", script, tuning)
        assert_trades_exact(db, sim, "binance", BTC, case="24 h connection close (rotation)")
    assert_bars_match(db, "binance", BTC)
    assert col.binance is not None
    assert min(s.stats.rotations for s in col.binance.sessions) >= 2
    # the overlap covered every cut: nothing had to be fetched from REST
    assert gap_statuses(db) == []


async def test_postgres_stopped_30s_mid_run_loses_nothing(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, conninfo = own_server

    async def script(sim: SimServer) -> None:
        await asyncio.sleep(3)
        await asyncio.to_thread(embedded.stop, data_dir)
        await asyncio.sleep(30)
        await asyncio.to_thread(embedded.start, data_dir)
        await asyncio.sleep(4)

    with SimServer.in_thread(sim_config()) as sim:
        col = await collect(sim, conninfo, tmp_path / "spool", script)
        assert col.writer.metrics.spooled_batches >= 1 and col.writer.metrics.replayed_batches >= 1
        assert col.writer.metrics.spool_depth == 0
        assert_trades_exact(conninfo, sim, "binance", BTC, minimum=1000, case="PostgreSQL down 30 s")
        assert_trades_exact(conninfo, sim, "upbit", KRW_BTC, minimum=500, case="PostgreSQL down 30 s")
    assert_bars_match(conninfo, "binance", BTC)
    assert_bars_match(conninfo, "upbit", KRW_BTC)
