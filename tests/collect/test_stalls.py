"""Issue 18: stalls are stalls. A silent connection is judged by the watchdog (`Tuning.stall_timeout_s`)
alone: a silence shorter than it is no error, a longer one is one stall and one reconnect of that
connection, counted into `stream_status`, with the gap filled from REST; and a collector whose connection
fails leaves no connection of its own behind for the supervisor's restart to duplicate.

The collection runs as the bot runs it (components under the supervisor, the run row's heartbeat writing
`bot_events` and `stream_status`), against the simulator and a real PostgreSQL; every trade the simulator
made is compared with the stored ones (zero missing, zero duplicated).

Durations: the sessions used to set aiohttp's 10 s receive timeout, so every silence here is longer than
10 s, or today's code would pass. The short silence is the issue's own: 15 s under the production
watchdog of 30 s. The long one keeps the issue's ratio (45 s against 30 s) at a 16 s watchdog and a 24 s
silence: 6 s past the old receive timeout, 8 s on either side of the watchdog, and a run under 40 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from cqt.bot import status_snapshot
from cqt.bot.run_record import RunRecord, shard_keys
from cqt.bot.supervisor import Supervisor
from cqt.collect.binance_ws import BinanceWsCollector
from cqt.collect.collection import Collection, Component, Tuning
from cqt.collect.ws_session import run_linked
from cqt.config import load_settings
from cqt.sim import SimServer
from tests.collect.test_collection import BTC, KRW_BTC, assert_trades_exact, gap_statuses, sim_config

MARKET, PUBLIC, UPBIT = "/market/stream", "/public/stream", "/websocket/v1"
CONNECTIONS = {"binance": [MARKET, PUBLIC], "upbit": [UPBIT]}
SHORT_WATCHDOG_S, LONG_SILENCE_S = 16.0, 24.0


@dataclass
class Run:
    col: Collection
    run_id: int
    before: list[str]  # the venue's open connections at the simulator, before the silence
    after: list[str]  # and once it has been recovered from


async def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def supervised_run(
    sim: SimServer, db: str, spool: Path, venue: str, *, watchdog_s: float, silence_s: float, path: str = ""
) -> Run:
    """The bot's wiring without the predictor, for one venue: once its connections are up and streaming,
    those under `path` go silent for `silence_s`; the run goes on 6 s after the silence, then stops."""
    env = {k.lower(): v for k, v in sim.urls.as_env().items()}
    settings = load_settings(None, **env, binance_symbols=[BTC], upbit_markets=[KRW_BTC])
    tuning = Tuning(venues=(venue,), stall_timeout_s=watchdog_s, gap_grace_ms=300, bar_grace_ms=500,
                    upbit_compare_every_s=2.0, write_latency_s=0.1)  # fmt: skip
    col = Collection(settings, db, spool, tuning)
    record = RunRecord(db, "sim", [BTC], shard_keys("sim", [BTC], [KRW_BTC]), heartbeat_s=1.0)
    run_id = await record.open()
    heartbeat = asyncio.create_task(record.heartbeat())
    await col.start()
    record.snapshot = lambda: status_snapshot.take(col)
    supervisor = Supervisor(record.event, backoff_initial_s=0.2)
    for comp in col.components:
        supervisor.start(comp)
    await wait_for(lambda: sim.open_connections(venue) == CONNECTIONS[venue])
    await asyncio.sleep(2.0)
    before = sim.open_connections(venue)
    sim.faults.stall(venue, seconds=silence_s, path=path)
    await asyncio.sleep(silence_s + 6.0)
    after = sim.open_connections(venue)
    await col.shutdown(supervisor.tasks)
    record.stop()
    await heartbeat
    await record.close("duration")
    return Run(col, run_id, before, after)


def bot_events(db: str, run_id: int) -> list[tuple[str, str, str]]:
    with psycopg.connect(db) as conn:
        q = "SELECT component, kind, detail FROM bot_events WHERE run_id = %s ORDER BY ts"
        return conn.execute(q, (run_id,)).fetchall()


def connection_counters(db: str, run_id: int) -> dict[str, set[tuple[int, int]]]:
    """(reconnects, stalls) per connection, from the run's last `stream_status` row of each stream."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (exchange, stream) connection, reconnects, stalls FROM stream_status"
            " WHERE run_id = %s ORDER BY exchange, stream, ts DESC",
            (run_id,),
        ).fetchall()
    out: dict[str, set[tuple[int, int]]] = {}
    for connection, reconnects, stalls in rows:
        out.setdefault(connection, set()).add((reconnects, stalls))
    return out


def stored_trades(db: str, exchange: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM trades WHERE exchange = %s", (exchange,)).fetchone()
    assert row is not None
    return int(row[0])


def assert_each_trade_streamed_once(db: str, col: Collection, exchange: str) -> None:
    """No trade arrived over two connections: Binance ids are contiguous, so the stored trades are exactly
    the streamed ones plus the REST fills; Upbit's reconnect fill may race the stream for a trade, so
    there the streamed ones are at most the stored ones."""
    stored = stored_trades(db, exchange)
    if exchange == "binance":
        assert col.binance is not None
        streamed = col.binance.messages["aggTrade"]
        assert streamed + col.ledger.counts.rows_filled == stored, (streamed, col.ledger.counts, stored)
    else:
        assert col.upbit is not None
        assert 0 < col.upbit.messages["trade"] <= stored, (col.upbit.messages["trade"], stored)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records a healthy run must not have: errors and tracebacks."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_silence_shorter_than_the_watchdog_is_no_error(
    db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SimServer.in_thread(sim_config()) as sim:
        run = await supervised_run(sim, db, tmp_path / "spool", "binance", watchdog_s=30.0, silence_s=15.0,
                                   path="/market")  # fmt: skip
        assert_trades_exact(db, sim, "binance", BTC, case="15 s silence, 30 s watchdog")
    assert bot_events(db, run.run_id) == []
    assert errors(caplog) == []
    assert connection_counters(db, run.run_id) == {"binance/market": {(0, 0)}, "binance/public": {(0, 0)}}
    assert run.col.binance is not None
    assert [s.stats.connects for s in run.col.binance.sessions] == [1, 1]
    assert run.before == run.after == [MARKET, PUBLIC]
    # the frames the silence held back are an id hole like any other, filled from REST
    gaps = gap_statuses(db)
    assert gaps and set(gaps) == {("binance", BTC, "filled")}, gaps
    assert_each_trade_streamed_once(db, run.col, "binance")


@pytest.mark.parametrize(
    ("venue", "path", "stalled", "healthy"),
    [("binance", "/market", "binance/market", "binance/public"), ("upbit", "", "upbit", None)],
)
async def test_a_silence_past_the_watchdog_is_one_stall_and_one_reconnect(
    venue: str, path: str, stalled: str, healthy: str | None, db: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    symbol = BTC if venue == "binance" else KRW_BTC
    with SimServer.in_thread(sim_config()) as sim:
        run = await supervised_run(sim, db, tmp_path / "spool", venue, watchdog_s=SHORT_WATCHDOG_S,
                                   silence_s=LONG_SILENCE_S, path=path)  # fmt: skip
        assert_trades_exact(db, sim, venue, symbol, case=f"{venue} 24 s silence, 16 s watchdog")
    assert bot_events(db, run.run_id) == []
    assert errors(caplog) == []
    expected = {stalled: {(1, 1)}} | ({} if healthy is None else {healthy: {(0, 0)}})
    assert connection_counters(db, run.run_id) == expected
    assert run.before == run.after == CONNECTIONS[venue]
    gaps = gap_statuses(db)
    assert gaps and set(gaps) == {(venue, symbol, "filled")}, gaps
    assert_each_trade_streamed_once(db, run.col, venue)


async def test_a_failing_connection_takes_its_sibling_down_before_the_restart() -> None:
    with SimServer.in_thread(sim_config()) as sim:
        collector = BinanceWsCollector(
            sim.urls.binance_ws_market, sim.urls.binance_ws_public, [BTC], lambda table, rows: None,
            lambda symbol, gap: None,
        )  # fmt: skip
        public = collector.sessions[1]
        handler = public.handler

        def broken_once(data: str | bytes, recv_ts: datetime) -> None:
            public.handler = handler
            raise RuntimeError("a bug that ends the public read loop")

        public.handler = broken_once
        events: list[tuple[str, str, str]] = []
        supervisor = Supervisor(lambda *event: events.append(event), backoff_initial_s=0.2)
        comp = Component("binance-ws", collector.run, collector.stop)
        task = supervisor.start(comp)
        await wait_for(lambda: any(kind == "restart" for _, kind, _ in events))
        await wait_for(lambda: min(s.stats.connects for s in collector.sessions) >= 2)
        await asyncio.sleep(1.0)  # the restarted connections stream; a survivor of the crash would too
        connections = sim.open_connections("binance")
        comp.request_stop()
        await task
    assert [kind for _, kind, _ in events] == ["crash", "restart"]
    assert "a bug that ends the public read loop" in events[0][2]
    assert connections == [MARKET, PUBLIC]


async def test_linked_coroutines_report_the_failure_that_ended_them() -> None:
    closed: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("the first failure")

    async def breaks_while_closing() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            closed.append("sibling")
            raise OSError("an error of the sibling's close")

    with pytest.raises(ValueError, match="the first failure"):
        await run_linked(breaks_while_closing(), fails())
    assert closed == ["sibling"]
