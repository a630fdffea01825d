"""Continuity across bot runs (docs/design.md §5.3, §3.3): a bot SIGKILLed mid-run, the market trading on
for a while, a second bot on the same database and spool. The second run finds where the first stopped
(the newest stored trade of each shard), opens a gap for what lies between and fills it from REST, so
from the first run's first stored trade to the second run's last nothing is missing or duplicated
against the simulator's ledger; the repair of that gap gives every second of the seam a full bar. The
boundary bars the collectors did not cover whole are `gap = true`, and every bar that is not flagged
holds exactly the trades the simulator made in its second.

The bots run `--source live` with the venue URLs pointed at a simulator in this process, so its ledger
(what it sent and what its REST serves) outlives both runs.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from cqt.collect import resume
from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.db import embedded
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.tables import SPECS
from tests.bot.test_bot import METRICS_URL, start_bot, wait_for_log
from tests.collect.test_collection import collect
from tests.ledger_check import check_trades
from tests.settings_env import bot_environ

BTC, KRW_BTC = "BTCUSDT", "KRW-BTC"
SHARDS = (("binance", BTC), ("upbit", KRW_BTC))


@dataclass(frozen=True)
class Sent:
    """What the simulator made for one shard: trade ids and their times (ms), in id order."""

    ids: list[int]
    times: np.ndarray


def sent_trades(sim: SimServer) -> dict[str, Sent]:
    b, u = sim.ledger.binance_trades(BTC), sim.ledger.upbit_trades(KRW_BTC)
    return {
        "binance": Sent([int(i) for i in b.agg_id], np.asarray(b.T, dtype=np.int64)),
        "upbit": Sent([int(i) for i in u.seq_id], np.asarray(u.T, dtype=np.int64)),
    }


def run_killed_then_resumed(
    tmp_path: Path, db: str, sim: SimServer, *, while_down: Iterator[None] | None = None
) -> tuple[int, str]:
    """Bot 1 for ~12 s, SIGKILL, 12 s of market without a bot, bot 2 for 25 s; bot 2's exit code and stderr.
    With `while_down`, PostgreSQL is stopped (first step) before the kill and started (second) after it."""
    env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
    first = start_bot(tmp_path, env, "--source", "live")
    try:
        wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL, timeout_s=60)
        time.sleep(8)
        if while_down is not None:
            next(while_down)  # the run spools from here on
            time.sleep(4)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    time.sleep(12)  # the simulator trades on: what the second run must find and fill
    if while_down is not None:
        next(while_down, None)
    second = start_bot(tmp_path, env, "--source", "live", "--duration", "25")
    try:
        _, err = second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
    return second.returncode, err


def assert_continuous(db: str, sent: dict[str, Sent], case: str) -> None:
    with psycopg.connect(db) as conn:
        runs = conn.execute("SELECT run_id FROM bot_runs ORDER BY run_id").fetchall()
        assert len(runs) == 2, runs
        for exchange, symbol in SHARDS:
            check_trades(db, case, exchange, symbol, sent[exchange].ids, minimum=300)

            gaps = conn.execute(
                "SELECT status, reason, start_ts, end_ts, from_id FROM gaps WHERE exchange = %s AND symbol = %s",
                (exchange, symbol),
            ).fetchall()
            between = [g for g in gaps if "since the previous run" in g[1]]
            assert len(between) == 1 and between[0][0] == "filled", gaps
            assert all(g[0] == "filled" for g in gaps), gaps
            seam_start, seam_end, from_id = between[0][2:]
            if exchange == "binance":
                # the gap begins right after the newest trade the first run received, spooled ones included
                received = conn.execute(
                    "SELECT max(trade_id) FROM trades WHERE exchange = 'binance' AND symbol = %s"
                    " AND recv_ts < (SELECT max(started_at) FROM bot_runs)",
                    (symbol,),
                ).fetchone()
                assert received is not None and from_id == received[0] + 1, (from_id, received)

            bars = conn.execute(
                "SELECT ts, n_trades, gap FROM market_1s WHERE exchange = %s AND symbol = %s ORDER BY ts",
                (exchange, symbol),
            ).fetchall()
            assert_bars(exchange, bars, sent[exchange].times, seam_start, seam_end)


def assert_bars(
    exchange: str, bars: list[tuple[datetime, int, bool]], times: np.ndarray, seam_start: datetime,
    seam_end: datetime,
) -> None:  # fmt: skip
    ts = np.array([dt_to_ms(b[0]) for b in bars], dtype=np.int64)
    # every second from the first run's first bar to the second run's last has a bar: the seam was repaired
    assert len(bars) == (ts[-1] - ts[0]) // 1000 + 1, f"{exchange}: seconds without a bar"
    made = np.searchsorted(times, ts, side="left") - np.searchsorted(times, ts - 1000, side="left")
    for (when, n, gap), want in zip(bars, made.tolist(), strict=True):
        # a bar not flagged is a full bar: exactly the trades the simulator made in its second
        assert gap or n == want, f"{exchange} bar {when}: {n} trades of {want}, not flagged"
    # the first run's first bar: the collector connected inside that second
    first_n, first_gap = bars[0][1], bars[0][2]
    assert first_gap, f"{exchange}: the first run's first bar ({first_n} of {made[0]} trades) is not flagged"
    # the second run stopped inside its last second (the simulator traded on): flagged, or provably full
    assert bars[-1][2] or bars[-1][1] == made[-1], exchange
    # the seam, from the first run's last bar through the second run's first second, is full and unflagged
    seam = (ts > dt_to_ms(seam_start)) & (ts <= dt_to_ms(seam_end) + 1000)
    assert seam.sum() >= 12, f"{exchange}: seam of {seam.sum()} bars"
    flagged = [bars[i][0] for i in np.flatnonzero(seam) if bars[i][2]]
    assert not flagged, f"{exchange}: seam bars flagged {flagged[:5]}"


def sim_config() -> SimConfig:
    return SimConfig(seed=13, binance_symbols=(BTC,), upbit_symbols=(KRW_BTC,))


def test_sigkill_then_restart_loses_nothing_between_the_runs(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(sim_config()) as sim:
        code, err = run_killed_then_resumed(tmp_path, db, sim)
        sent = sent_trades(sim)
    assert code == 0, err[-3000:]
    assert_continuous(db, sent, "SIGKILL, 12 s without a bot, restart")


def test_postgres_down_then_sigkill_then_restart_loses_nothing(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, db = own_server

    def outage() -> Iterator[None]:
        embedded.stop(data_dir)
        yield
        embedded.start(data_dir)
        yield

    with SimServer.in_thread(sim_config()) as sim:
        code, err = run_killed_then_resumed(tmp_path, db, sim, while_down=outage())
        sent = sent_trades(sim)
    assert code == 0, err[-3000:]
    assert_continuous(db, sent, "PostgreSQL down, SIGKILL, restart")


async def test_gaps_an_earlier_run_left_open_are_filled_by_the_next(db: str, tmp_path: Path) -> None:
    """A run killed (or cut by its shutdown deadline) while filling leaves its gap `open`: the next run
    fills it, Binance by id and Upbit by time, and closes it."""
    with SimServer.in_thread(sim_config()) as sim:
        await asyncio.sleep(4)  # history the simulator's REST serves
        sent = sent_trades(sim)
        b, u = sent["binance"], sent["upbit"]
        assert len(b.ids) > 80 and len(u.ids) > 80
        spans = {
            "binance": ("aggTrade", int(b.times[20]), int(b.times[60]), b.ids[20], b.ids[60]),
            "upbit": ("trade", int(u.times[20]), int(u.times[60]), None, None),
        }
        with psycopg.connect(db) as conn:
            for exchange, (stream, start, end, from_id, to_id) in spans.items():
                conn.execute(
                    "INSERT INTO gaps (exchange, symbol, stream, start_ts, end_ts, from_id, to_id, status, reason)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 'open', 'left by a killed run')",
                    (
                        exchange,
                        dict(SHARDS)[exchange],
                        stream,
                        ms_to_dt(start),
                        ms_to_dt(end),
                        from_id,
                        to_id,
                    ),
                )

        async def script(sim: SimServer) -> None:
            await asyncio.sleep(5)

        await collect(sim, db, tmp_path / "spool", script)
    with psycopg.connect(db) as conn:
        statuses = conn.execute("SELECT exchange, status FROM gaps ORDER BY exchange").fetchall()
        assert statuses == [("binance", "filled"), ("upbit", "filled")], statuses
        for exchange, symbol in SHARDS:
            stored = {r[0] for r in conn.execute(
                "SELECT trade_id FROM trades WHERE exchange = %s AND symbol = %s", (exchange, symbol)
            )}  # fmt: skip
            wanted = set(sent[exchange].ids[20:61])
            assert wanted <= stored, f"{exchange}: {len(wanted - stored)} of {len(wanted)} not filled"


def test_spooled_rows_count_as_stored_and_the_look_back_is_bounded(tmp_path: Path) -> None:
    """PostgreSQL away again before the previous run's spool was replayed: the spooled trades and bars
    are part of what that run received; a previous trade older than the look-back is not chased."""
    now = datetime.now(UTC)
    at = [now - timedelta(seconds=s) for s in (30, 20, 10, 9)]
    spool = Spool(tmp_path / "spool", 10**6)
    trades = [("binance", BTC, 7, at[1], at[1], 1.0, 1.0, 1), ("binance", BTC, 9, at[0], at[0], 1.0, 1.0, 1),
              ("upbit", KRW_BTC, 5, at[2], at[2], 1.0, 1.0, 1), ("upbit", "KRW-ETH", 6, at[3], at[3], 1.0, 1.0, 1)]  # fmt: skip
    bar = ("binance", BTC, at[2], at[2]) + (None,) * (len(SPECS["market_1s"].columns) - 4)
    spool.append({"trades": trades, "market_1s": [bar]}, {t: SPECS[t].columns for t in SPECS})
    stored = {("binance", BTC): resume.Newest(8, at[0] - timedelta(hours=7), at[0] - timedelta(hours=7)),
              ("upbit", KRW_BTC): resume.Newest(4, at[0] - timedelta(hours=7))}  # fmt: skip
    merged = resume.with_spooled(stored, spool, SHARDS)
    # Binance by id (9, although older than id 7), Upbit by time; other shards are not looked at
    assert merged == {
        ("binance", BTC): resume.Newest(9, at[0], at[2]),
        ("upbit", KRW_BTC): resume.Newest(5, at[2]),
    }
    assert merged[("binance", BTC)].gap_start == at[0]
    assert resume.within_reach(stored, 6 * 3600.0) == {}
    assert resume.within_reach(merged, 6 * 3600.0) == merged
