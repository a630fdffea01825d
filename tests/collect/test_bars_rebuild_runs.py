"""`cqt bars rebuild` keeps the point-in-time rule: over data stored by two real simulator bot runs with a
pause between them, rebuilt bars take their inputs' `recv_ts` (so the export's features stay usable), the
pause becomes `gap` seconds that get no label, and on generated rows a stored bar with more trades than the
stored trades give is kept and reported."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from cqt.collect.rows import dt_to_ms
from cqt.export.dataset import export_dataset
from cqt.export.spec import BAR_MAX_AGE_S, ExportParams
from tests.conftest import migrated_database
from tests.export.recompute import contract
from tests.foundation.cli_runner import run_cqt
from tests.settings_env import bot_environ

RUN_S = 20
PAUSE_S = 8
HORIZON_S = 5
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Runs:
    """The database after two bot runs and a rebuild over both, with what was stored before the rebuild."""

    db: str
    tmp: Path
    first_bar: datetime
    last_bar: datetime
    live: set[tuple[str, datetime]]  # (exchange, ts) of the live bars
    live_gaps: set[tuple[str, datetime]]  # those the live feed flagged: the seconds it did not hear whole
    before: Path  # the export before the rebuild
    rebuild: subprocess.CompletedProcess[str]


def _export(runs: Runs | tuple[str, datetime, datetime], out: Path) -> Path:
    db, first, last = (runs.db, runs.first_bar, runs.last_bar) if isinstance(runs, Runs) else runs
    params = ExportParams(
        "BTCUSDT", HORIZON_S, "triple", "fixed:0.0002", 1, first, last + SECOND, "baseline-v1"
    )
    with psycopg.connect(db) as conn:
        export_dataset(conn, params, out, source="sim")
    return out


@pytest.fixture(scope="module")
def runs(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    with migrated_database(pg_server) as db:
        tmp = tmp_path_factory.mktemp("runs")
        for i in range(2):
            if i:
                time.sleep(PAUSE_S)  # nothing collects: the rebuild must not carry prices across
            run = subprocess.run(
                [sys.executable, "-m", "cqt.bot", "--source", "sim", "--duration", str(RUN_S),
                 "--horizon", str(HORIZON_S)],
                cwd=tmp, env=bot_environ(tmp, db), text=True, capture_output=True, timeout=180,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr[-3000:]
        with psycopg.connect(db) as conn:
            rows = conn.execute("SELECT exchange, ts, gap FROM market_1s").fetchall()
        live = {(str(x), ts) for x, ts, _ in rows}
        live_gaps = {(str(x), ts) for x, ts, gap in rows if gap}
        first_bar, last_bar = min(ts for _, ts in live), max(ts for _, ts in live)
        before = _export((db, first_bar, last_bar), tmp / "before.parquet")
        rebuild = run_cqt("bars", "rebuild", "--source", "sim", "--start", first_bar.isoformat(),
                          "--end", last_bar.isoformat(), cwd=tmp, env=bot_environ(tmp, db))  # fmt: skip
        yield Runs(db, tmp, first_bar, last_bar, live, live_gaps, before, rebuild)


def _nulls(table: pa.Table, features: list[str]) -> dict[str, set[int]]:
    t0 = [dt_to_ms(t) for t in table["t0"].to_pylist()]
    return {c: {t for t, v in zip(t0, table[c].to_pylist(), strict=True) if v is None} for c in features}


def test_rebuilt_bars_keep_the_features_usable(runs: Runs) -> None:
    assert runs.rebuild.returncode == 0, runs.rebuild.stderr
    after_path = _export(runs, runs.tmp / "after.parquet")
    features = [f["column"] for f in contract(after_path)["features"]]
    before, after = pq.read_table(runs.before), pq.read_table(after_path)
    assert after["t0"].to_pylist() == before["t0"].to_pylist() and after.num_rows > 20
    null_before, null_after = _nulls(before, features), _nulls(after, features)
    # Nowhere is a feature missing after the rebuild that was there before ...
    assert all(null_after[c] <= null_before[c] for c in features), features
    # ... and once a session's first live bars were out (they trail by the aggregator's grace, the rebuilt
    # ones only by their inputs) the null shares are the same.
    starts = sorted(
        dt_to_ms(ts) for x, ts in runs.live if x == "binance" and (x, ts - SECOND) not in runs.live
    )
    assert len(starts) == 2  # one session per run
    settled = {
        t for t in (dt_to_ms(v) for v in before["t0"].to_pylist())
        if t - max(s for s in starts if s <= t) >= BAR_MAX_AGE_S * 1000
    }  # fmt: skip
    assert settled
    assert {c: len(null_after[c] & settled) for c in features} == {
        c: len(null_before[c] & settled) for c in features
    }
    assert null_after["bn_close"] < null_before["bn_close"] or not null_before["bn_close"]


def test_seconds_without_a_collector_are_gaps_without_labels(runs: Runs) -> None:
    with psycopg.connect(runs.db) as conn:
        bars = conn.execute(
            "SELECT exchange, ts, gap, revision FROM market_1s ORDER BY exchange, ts"
        ).fetchall()
        stopped, restarted = conn.execute("SELECT min(stopped_at), max(started_at) FROM bot_runs").fetchone()  # type: ignore[misc]
    # the rebuilt bars with no live bar are exactly the pause, and those are gaps; of the live ones, those
    # the live feed flagged (a run's first and last second, heard in part) stay gaps, the others are not
    gaps = {(x, ts) for x, ts, gap, _ in bars if gap}
    pause = {(x, ts) for x, ts, _, _ in bars if (x, ts) not in runs.live}
    assert gaps == pause | runs.live_gaps
    assert {x for x, _ in pause} == {"binance", "upbit"}
    assert all(stopped < ts and ts - SECOND < restarted + timedelta(seconds=5) for _, ts in pause)
    assert len(pause) >= 2 * (PAUSE_S - 1)
    boundaries = {ts for _, ts in runs.live_gaps}
    assert min(ts for _, ts in runs.live) in boundaries and max(ts for _, ts in runs.live) in boundaries
    assert all(revision == 1 for x, ts, _, revision in bars if (x, ts) in runs.live)
    # the export labels no t0 whose horizon meets the pause (a carried, stale price there would read NONE)
    out = _export(runs, runs.tmp / "gaps.parquet")
    binance_gaps = sorted(dt_to_ms(ts) for x, ts in gaps if x == "binance")
    t0 = [dt_to_ms(t) for t in pq.read_table(out, columns=["t0"])["t0"].to_pylist()]
    assert not [t for t in t0 if any(t <= g <= t + HORIZON_S * 1000 for g in binance_gaps)]
    assert contract(out)["dropped"]["gap"] >= len(binance_gaps)
    summary = [line for line in runs.rebuild.stdout.splitlines() if line.startswith("rebuilt ")]
    assert summary == [
        f"rebuilt {len(bars)} bars for 2 symbol(s): {len(runs.live)} replaced, {len(gaps)} gap seconds,"
        " 0 fewer-trade conflicts (stored bars kept)"
    ]
    progress = runs.rebuild.stderr.splitlines()
    assert any(line.startswith("binance BTCUSDT ") and "bars/s, ETA" in line for line in progress), progress
    assert any(line.startswith("upbit KRW-BTC ") and "trades and quotes" in line for line in progress), (
        progress
    )


# Independently of the rebuild's code: the newest recv_ts of the trades of the bar's second, else of the
# trade it carries, and the same for quotes.
_INPUT_RECV = """
SELECT m.exchange, m.ts, m.recv_ts, greatest(
  coalesce(
    (SELECT max(t.recv_ts) FROM trades t WHERE (t.exchange, t.symbol) = (m.exchange, m.symbol)
       AND t.ts >= m.ts - interval '1 second' AND t.ts < m.ts),
    (SELECT t.recv_ts FROM trades t WHERE (t.exchange, t.symbol) = (m.exchange, m.symbol)
       AND t.ts < m.ts - interval '1 second' ORDER BY t.ts DESC, t.trade_id DESC LIMIT 1)),
  coalesce(
    (SELECT max(q.recv_ts) FROM quotes q WHERE (q.exchange, q.symbol) = (m.exchange, m.symbol)
       AND q.ts >= m.ts - interval '1 second' AND q.ts < m.ts),
    (SELECT q.recv_ts FROM quotes q WHERE (q.exchange, q.symbol) = (m.exchange, m.symbol)
       AND q.ts < m.ts - interval '1 second' ORDER BY q.ts DESC, q.seq DESC LIMIT 1)))
FROM market_1s m ORDER BY 1, 2
"""


def test_rebuilt_recv_ts_is_the_newest_of_the_inputs(runs: Runs) -> None:
    with psycopg.connect(runs.db) as conn:
        rows = conn.execute(_INPUT_RECV).fetchall()
        rebuilt_at = conn.execute("SELECT max(stopped_at) FROM bot_runs").fetchone()[0]  # type: ignore[index]
    assert len(rows) > 2 * (2 * RUN_S - 10)
    assert [(x, ts, recv) for x, ts, recv, _ in rows] == [(x, ts, want) for x, ts, _, want in rows]
    assert all(recv <= rebuilt_at for *_, recv, _ in rows)


T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_fewer_trades_keep_the_stored_bar_and_are_reported(db: str, tmp_path: Path) -> None:
    # (id, time, price, recv delay): one before the run, one after it, one received 20 s late (backfilled)
    trades = [(1, 200, 100.0, 40), (2, 2100, 101.0, 40), (3, 2500, 102.0, 40), (4, 3300, 103.0, 40),
              (5, 5200, 104.0, 20_000), (6, 9500, 105.0, 40), (7, 12_400, 106.0, 40)]  # fmt: skip
    with psycopg.connect(db, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO trades VALUES ('binance', 'BTCUSDT', %s, %s, %s, %s, 1, 1)",
            [(i, T0 + ms * MS, T0 + (ms + delay) * MS, p) for i, ms, p, delay in trades],
        )
        conn.execute(
            "INSERT INTO bot_runs (started_at, heartbeat_at, stopped_at, stop_cause, source, symbols, host, pid,"
            " version) VALUES (%s, %s, %s, 'signal', 'live', '{BTCUSDT}', 'h', 1, 'v')",
            (T0 + 2 * SECOND, T0 + 10 * SECOND, T0 + 10 * SECOND),
        )
        # live bars: [2 s, 3 s) saw 3 trades where only 2 are stored; [3 s, 4 s) missed its trade
        conn.cursor().executemany(
            "INSERT INTO market_1s (exchange, symbol, ts, recv_ts, close, n_trades)"
            " VALUES ('binance', 'BTCUSDT', %s, %s, %s, %s)",
            [(T0 + 3 * SECOND, T0 + 5 * SECOND, 99.0, 3), (T0 + 4 * SECOND, T0 + 6 * SECOND, 102.0, 0)],
        )
    result = run_cqt("bars", "rebuild", "--start", (T0 + SECOND).isoformat(), "--end",
                     (T0 + 13 * SECOND).isoformat(), cwd=tmp_path, env={"DB_URL": db})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "rebuilt 12 bars for 1 symbol(s): 1 replaced, 5 gap seconds, 1 fewer-trade conflicts (stored bars kept)"
    )
    assert "warning: 1 second(s) have a stored bar with more trades" in result.stderr
    assert "binance BTCUSDT 2026-11-20 10:00:03" in result.stderr
    with psycopg.connect(db) as conn:
        bars = conn.execute(
            "SELECT extract(epoch FROM ts - %s)::int, extract(epoch FROM recv_ts - %s)::float8, close, n_trades,"
            " gap, revision FROM market_1s ORDER BY ts",
            (T0, T0),
        ).fetchall()
    assert bars == [
        (1, 0.24, 100.0, 1, True, 0),  # before the run: a gap
        (2, 0.24, 100.0, 0, True, 0),  # the run started but collected nothing yet: a gap, not stale
        (3, 5.0, 99.0, 3, False, 0),  # the stored bar knows a trade the trades table lacks: kept
        (4, 3.34, 103.0, 1, False, 1),  # replaced: the trade it missed is in
        (5, 3.34, 103.0, 0, False, 0),
        (6, 25.2, 104.0, 1, False, 0),  # the backfilled trade's recv_ts ...
        *[(s, 25.2, 104.0, 0, False, 0) for s in (7, 8, 9)],  # ... also dates the bars carrying its price
        (10, 9.54, 105.0, 1, False, 0),
        (11, 9.54, 105.0, 0, True, 0),  # after the run's last event
        (12, 9.54, 105.0, 0, True, 0),
        (13, 12.44, 106.0, 1, True, 0),
    ]
