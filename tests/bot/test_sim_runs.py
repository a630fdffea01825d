"""Two consecutive `--source sim` bot runs on one database: the second run's trades are all stored, none
reuses an id of the first run, its prices are a new path, and the live database stays empty.

The simulator runs inside each bot process, so its ledger is out of reach; what it sent is regenerated
here instead: its market is a function of seed, rate, symbols and start time (tests/sim/test_market.py),
and the bot logs the start time. The comparison is row by row (id, time, price, size, side), so a row of
the first run kept in place of the second run's (`ON CONFLICT DO NOTHING`) is caught.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from cqt.sim import MarketModel
from cqt.sim.tables import BinanceTrades, UpbitTrades
from tests.conftest import migrated_database
from tests.settings_env import bot_environ, clean_environ

SEED = 5  # not the simulator's default: the market is only regenerated if the runs took --sim-seed
RATE = 300.0
OPENED = re.compile(r"simulator market: seed (\d+), [\d.]+ msg/s, opened at (\d+) ms")

Trade = tuple[int, int, float, float, int]  # id, time (ms), price, size, taker side (1 buy, -1 sell)


@dataclass(frozen=True)
class SimRuns:
    live_db: str  # DB_URL of the runs
    sim_db: str  # SIM_DB_URL of the runs
    starts: tuple[int, int]  # when each run's market opened (ms)
    ends: tuple[int, int]  # when each bot process had exited (ms)
    tmp: Path


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _sim_run(tmp: Path, live_db: str, sim_db: str) -> tuple[int, int]:
    """One 20 s `--source sim` bot run; (market start, exit time) in ms."""
    tmp.mkdir()
    env = {**bot_environ(tmp, sim_db), "DB_URL": live_db}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cqt.bot",
            "--source",
            "sim",
            "--duration",
            "20",
            "--sim-seed",
            str(SEED),
            "--sim-rate",
            str(RATE),
        ],
        cwd=tmp,
        env=env,
        text=True,
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    opened = OPENED.search((tmp / "logs" / "bot.log").read_text())
    assert opened is not None, done.stderr[-3000:]
    assert int(opened.group(1)) == SEED
    return int(opened.group(2)), _now_ms()


@pytest.fixture(scope="module")
def runs(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimRuns]:
    tmp = tmp_path_factory.mktemp("sim_runs")
    with migrated_database(pg_server) as live_db, migrated_database(pg_server) as sim_db:
        first = _sim_run(tmp / "run1", live_db, sim_db)
        second = _sim_run(tmp / "run2", live_db, sim_db)
        yield SimRuns(live_db, sim_db, (first[0], second[0]), (first[1], second[1]), tmp)


def _sent(start_ms: int, end_ms: int) -> dict[str, list[Trade]]:
    """Every trade the simulator of a run starting at `start_ms` emitted before `end_ms`, by exchange."""
    model = MarketModel(SEED, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",), rate=RATE)
    batches = list(model.generate(start_ms, end_ms, step_ms=10_000))
    b = BinanceTrades.concat([x.binance_trades for x in batches])
    u = UpbitTrades.concat([x.upbit_trades for x in batches])
    columns = {
        "binance": (b.agg_id, b.T, b.price, b.qty, np.where(b.buyer_maker, -1, 1)),
        "upbit": (u.seq_id, u.T, u.price, u.qty, np.where(u.is_ask, -1, 1)),
    }
    return {k: list(zip(*(c.tolist() for c in cols), strict=True)) for k, cols in columns.items()}


def _stored(db: str, exchange: str, lo_ms: int, hi_ms: int) -> list[Trade]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT trade_id, (extract(epoch FROM ts) * 1000)::bigint, price, qty, side FROM trades"
            " WHERE exchange = %s AND ts >= to_timestamp(%s / 1000.0) AND ts < to_timestamp(%s / 1000.0)"
            " ORDER BY trade_id",
            (exchange, lo_ms, hi_ms),
        ).fetchall()
    return [(int(i), int(t), float(p), float(q), int(s)) for i, t, p, q, s in rows]


def test_second_run_stores_every_trade_sent_and_repeats_no_id_or_price(runs: SimRuns) -> None:
    (start1, start2), (end1, end2) = runs.starts, runs.ends
    assert end1 <= start2  # consecutive: the first bot had exited before the second market opened
    sent1, sent2 = _sent(start1, end1), _sent(start2, end2)
    for exchange in ("binance", "upbit"):
        stored = [
            _stored(runs.sim_db, exchange, start1, start2),
            _stored(runs.sim_db, exchange, start2, end2),
        ]
        for rows, sent in zip(stored, (sent1[exchange], sent2[exchange]), strict=True):
            assert len(rows) > 50, exchange
            # every trade the simulator sent while the collectors listened, exactly as it was sent
            between = [t for t in sent if rows[0][0] <= t[0] <= rows[-1][0]]
            assert rows == between, exchange
        ids1, ids2 = {t[0] for t in sent1[exchange]}, {t[0] for t in sent2[exchange]}
        assert not ids1 & ids2 and max(ids1) < min(ids2), exchange
        first_prices, later = [t[2] for t in stored[1][:20]], [t[2] for t in stored[0]]
        assert all(later[i : i + 20] != first_prices for i in range(len(later))), exchange


def test_live_database_and_export_hold_no_sim_row(runs: SimRuns) -> None:
    with psycopg.connect(runs.live_db) as conn:
        for table in ("trades", "quotes", "market_1s", "predictions"):
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            assert count == (0,), table
    start = datetime.fromtimestamp(runs.starts[0] // 1000, UTC).isoformat()
    end = datetime.fromtimestamp(runs.ends[1] // 1000 + 1, UTC).isoformat()

    def export(source: str, output: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "cqt",
                "export",
                "--source",
                source,
                "--output",
                str(output),
                "--start",
                start,
                "--end",
                end,
                "--horizon",
                "10",
                "--r-policy",
                "fixed:0.001",
            ],
            cwd=runs.tmp,
            env=clean_environ(DB_URL=runs.live_db, SIM_DB_URL=runs.sim_db),
            text=True,
            capture_output=True,
            timeout=120,
        )

    # the settings of the runs, as a user has them: the live export of their range finds nothing
    live = export("live", runs.tmp / "live.parquet")
    assert live.returncode == 2, live.stderr
    assert "empty range: no Binance bars of BTCUSDT" in live.stderr
    assert not (runs.tmp / "live.parquet").exists()
    # the same export of the simulator's database finds the runs (the range above is where they were) and
    # names its source and both runs
    sim = export("sim", runs.tmp / "sim.parquet")
    assert sim.returncode == 0, sim.stderr
    assert pq.read_metadata(runs.tmp / "sim.parquet").num_rows > 0
    meta = json.loads(pq.read_schema(runs.tmp / "sim.parquet").metadata[b"cqt"])
    with psycopg.connect(runs.sim_db) as conn:
        ids = [r[0] for r in conn.execute("SELECT run_id FROM bot_runs WHERE source = 'sim' ORDER BY 1")]
    assert meta["source"] == "sim" and meta["bot_runs"] == ids and len(ids) == 2
