"""Shutdown within a bound (docs/design.md §5.7), and run rows always closed.

A SIGTERM ends the bot, flush included, within Docker's 10 s grace whatever the venues or PostgreSQL do:
slow and failing REST answers are abandoned, and rows PostgreSQL cannot take are spooled. A run row that
PostgreSQL could not take at the stop is closed by the next start with stop cause `lost`, and the spool of
the first run is replayed by the second one without a trade missing or stored twice (the in-test
simulator's ledger is the reference).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
import pytest

from cqt.bot.run_record import STALE_RUN_S, RunRecord, shard_keys
from cqt.collect.coinglass_poll import CoinglassPoller, CoinglassTarget
from cqt.collect.collection import Collection, Tuning
from cqt.collect.stopping import CANCEL_GRACE_S
from cqt.config import load_settings
from cqt.db import embedded
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.bot.test_bot import METRICS_URL, start_bot, wait_for_log
from tests.ledger_check import check_trades, sent_trade_ids
from tests.settings_env import bot_environ

# Docker's grace between SIGTERM and SIGKILL: the bound the issue sets for the whole stop.
GRACE_S = 10.0
# Longer than every client's timeout: a call hit by it can only end by being cancelled.
SLOW_S = 120.0
SIM = SimConfig(seed=11, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))


def stop_within_grace(bot: subprocess.Popen[str]) -> tuple[float, str, str]:
    """SIGTERM, then the seconds until the process ended, its stdout and its stderr."""
    sent = time.monotonic()
    bot.send_signal(signal.SIGTERM)
    try:
        out, err = bot.communicate(timeout=60)
    finally:
        if bot.poll() is None:
            bot.kill()
    return time.monotonic() - sent, out, err


def test_sigterm_with_slow_and_failing_rest_exits_within_the_grace(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(SIM) as sim:
        # Coinglass polls at once: its first call is in flight, and hangs, when the bot is up.
        sim.faults.slow("coinglass", seconds=SLOW_S, count=1000)
        env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, COINGLASS_POLL_S="5",
                          **sim.urls.as_env())  # fmt: skip
        bot = start_bot(tmp_path, env, "--source", "live")
        try:
            wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL)
        except AssertionError:
            bot.kill()
            raise AssertionError(bot.communicate()[1][-3000:]) from None
        # From now on every Binance and Upbit REST answer is slow, and half of them fail after the wait.
        for venue in ("binance", "upbit"):
            sim.faults.slow(venue, seconds=SLOW_S, count=1000)
            sim.faults.http_error(venue, status=503, count=500)
        time.sleep(12)  # the Binance pollers' 10 s cadence has sent its calls into the slow answers
        took, _, err = stop_within_grace(bot)
    assert bot.returncode == 0, err[-3000:]
    assert took < GRACE_S, f"{took:.1f}s: {err[-3000:]}"
    with psycopg.connect(db) as conn:
        run = conn.execute("SELECT stop_cause, stop_detail, stopped_at IS NOT NULL FROM bot_runs").fetchall()
    assert run == [("signal", "SIGTERM", True)]


def spooled_trades(spool_dir: Path) -> dict[str, list[int]]:
    """Trade ids per exchange in the spool files (JSON lines: a table header, then its rows)."""
    found: dict[str, list[int]] = {}
    for path in sorted(spool_dir.rglob("*.batch")):
        if "rejected" in path.parts:
            continue
        columns: list[str] | None = None
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if isinstance(obj, dict):
                columns = obj["columns"] if obj["table"] == "trades" else None
            elif columns is not None:
                row = dict(zip(columns, obj, strict=True))
                found.setdefault(row["exchange"], []).append(int(row["trade_id"]))
    return found


def stored_trades(conninfo: str) -> dict[str, list[int]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT exchange, trade_id FROM trades ORDER BY exchange, trade_id").fetchall()
    found: dict[str, list[int]] = {}
    for exchange, trade_id in rows:
        found.setdefault(exchange, []).append(int(trade_id))
    return found


def test_sigterm_while_postgres_is_down_spools_and_the_next_start_closes_the_run(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, uri = own_server
    spool = tmp_path / "spool"
    with SimServer.in_thread(SIM) as sim:
        env = bot_environ(tmp_path, uri, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
        first = start_bot(tmp_path, env, "--source", "live")
        try:
            wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL)
            time.sleep(5)
            embedded.stop(data_dir)
            time.sleep(5)  # trades go on arriving; the writer spools them
        except BaseException:
            first.kill()
            raise
        took, out, err = stop_within_grace(first)
        assert first.returncode == 0, err[-3000:]
        assert took < GRACE_S, f"{took:.1f}s: {err[-3000:]}"
        assert "wait in the spool" in err and "next start closes it with stop cause lost" in err, err[-3000:]
        assert out.strip() == "run 1: no summary, PostgreSQL was unavailable at the stop", out  # not asked
        in_spool = spooled_trades(spool)
        assert {"binance", "upbit"} <= set(in_spool) and all(len(ids) > 10 for ids in in_spool.values())

        embedded.start(data_dir)
        # What the first run received: what it committed before the outage, and its spool.
        received = stored_trades(uri)
        for exchange, ids in in_spool.items():
            received[exchange] = received.get(exchange, []) + ids
        second = start_bot(tmp_path, env, "--source", "live", "--duration", "10")
        _, err2 = second.communicate(timeout=90)
        assert second.returncode == 0, err2[-3000:]
        sent = sent_trade_ids(sim)

    assert spooled_trades(spool) == {}  # replayed, and removed once committed
    stored = stored_trades(uri)
    for exchange, ids in received.items():
        lo, hi = min(ids), max(ids)
        expected = sorted(i for i in sent[exchange] if lo <= i <= hi)
        assert sorted(set(ids)) == expected, f"{exchange}: the first run did not receive every trade"
        got = [i for i in stored[exchange] if lo <= i <= hi]
        assert got == expected, (
            f"{exchange}: {len(set(expected) - set(got))} missing, {len(got) - len(set(got))} twice"
        )
    # and the whole span of both runs, the outage and the restart's fill included
    for exchange, symbol in (("binance", "BTCUSDT"), ("upbit", "KRW-BTC")):
        check_trades(uri, "SIGTERM while PostgreSQL is down, restart", exchange, symbol, sent[exchange])
    with psycopg.connect(uri) as conn:
        runs = conn.execute(
            "SELECT pid, stop_cause, stop_detail, stopped_at = heartbeat_at FROM bot_runs ORDER BY run_id"
        ).fetchall()
    assert [r[1] for r in runs] == ["lost", "duration"], runs
    pid, _, detail, at_last_beat = runs[0]
    assert pid == first.pid and at_last_beat
    assert f"pid {first.pid} on {socket.gethostname()}) is no longer running" in detail, detail


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_the_next_start_closes_only_the_rows_no_process_keeps(db: str, dead_pid: int) -> None:
    here = socket.gethostname()
    stale = datetime.now(UTC) - timedelta(seconds=STALE_RUN_S + 60)
    rows = {
        "dead pid here": (here, dead_pid, datetime.now(UTC)),
        "stale elsewhere": ("elsewhere", 4242, stale),
        "fresh elsewhere": ("elsewhere", 4242, datetime.now(UTC)),
        "alive here": (here, os.getpid(), datetime.now(UTC)),
    }
    with psycopg.connect(db, autocommit=True) as conn:
        ids = {
            name: conn.execute(
                "INSERT INTO bot_runs (source, symbols, host, pid, version, heartbeat_at)"
                " VALUES ('live', '{ETHUSDT}', %s, %s, 'test', %s) RETURNING run_id",
                (host, pid, beat),
            ).fetchone()[0]  # type: ignore[index]
            for name, (host, pid, beat) in rows.items()
        }
    record = RunRecord(db, "live", ["BTCUSDT"], shard_keys("live", ["BTCUSDT"], ["KRW-BTC"]))
    run_id = await record.open()
    assert await record.close("duration", "test")
    with psycopg.connect(db) as conn:
        got = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT run_id, stop_cause, stop_detail, stopped_at = heartbeat_at FROM bot_runs"
            ).fetchall()
        }
    assert got[run_id][0] == "duration"
    for name in ("fresh elsewhere", "alive here"):
        assert got[ids[name]] == (None, None, None), name
    cause, detail, at_last_beat = got[ids["dead pid here"]]
    assert cause == "lost" and at_last_beat
    assert f"(pid {dead_pid} on {here}) is no longer running" in detail and f"run {run_id}" in detail
    cause, detail, at_last_beat = got[ids["stale elsewhere"]]
    assert cause == "lost" and at_last_beat and f"more than {STALE_RUN_S:.0f} s" in detail, detail


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A PostgreSQL address that accepts connections and never answers (a hung server)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        port = server.getsockname()[1]
        yield f"postgresql://cqt@127.0.0.1:{port}/cqt?connect_timeout=60"


async def test_a_hung_postgres_cannot_hold_the_shutdown_its_rows_are_spooled(
    blackhole: str, tmp_path: Path
) -> None:
    col = Collection(load_settings(None), blackhole, tmp_path / "spool", Tuning(venues=()))
    writer = asyncio.create_task(col.writer.run())
    now = datetime.now(UTC)
    col.writer.put("trades", [("binance", "BTCUSDT", i, now, now, 100.0, 1.0, 1) for i in range(1, 101)])
    await asyncio.sleep(1.0)  # the writer is connecting, for up to a minute
    loop = asyncio.get_running_loop()
    started = loop.time()
    await col.shutdown({"writer": writer}, timeout_s=3.0)
    assert loop.time() - started < 3.0 + 2 * CANCEL_GRACE_S + 1.0  # the deadline, the cancelled steps' grace
    assert spooled_trades(tmp_path / "spool") == {"binance": list(range(1, 101))}


async def test_a_stopped_coinglass_poller_abandons_its_slow_call(tmp_path: Path) -> None:
    with SimServer.in_thread(SIM) as sim:
        sim.faults.slow("coinglass", seconds=SLOW_S, count=10)
        rows: list[tuple[str, int]] = []
        poller = CoinglassPoller(
            sim.urls.coinglass_rest, SIM_COINGLASS_KEY,
            CoinglassTarget(coin="BTC", pair="BTCUSDT", exchange="Binance", interval="1h"),
            lambda table, batch: rows.append((table, len(batch))),
        )  # fmt: skip
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(1.0)  # the first call is waiting for its answer
        poller.stop()
        await asyncio.wait_for(task, timeout=SLOW_S / 4)  # far less than one slow answer
        assert rows == []  # cancelled before any answer: no status row for a call that did not end

        # A cycle begun after stop() makes no call at all.
        async with aiohttp.ClientSession() as http:
            await poller.poll_once(http)
        assert rows == []
