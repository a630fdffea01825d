"""`cqt bars rebuild` against a real PostgreSQL: bars recomputed from stored trades, revision raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tests.foundation.cli_runner import run_cqt

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def test_rebuild_recomputes_bars_from_stored_trades(db: str, fresh_db: str, tmp_path: Path) -> None:
    ms = timedelta(milliseconds=1)
    trades = [  # (id, time, price, qty, side): two trades in [10:00:00, 10:00:01), none in the next second
        (1, T0 + 100 * ms, 100.0, 1.0, 1),
        (2, T0 + 900 * ms, 104.0, 3.0, -1),
        (3, T0 + 2500 * ms, 101.0, 2.0, 1),
    ]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO trades VALUES ('binance', 'BTCUSDT', %s, %s, %s, %s, %s, %s)",
            [(i, ts, ts, p, q, side) for i, ts, p, q, side in trades],
        )
        # a stale live bar for the first second that missed the second trade
        conn.execute(
            "INSERT INTO market_1s (exchange, symbol, ts, recv_ts, open, high, low, close, volume, n_trades)"
            " VALUES ('binance', 'BTCUSDT', %s, %s, 100, 100, 100, 100, 1, 1)",
            (T0 + timedelta(seconds=1), T0 + timedelta(seconds=3)),
        )
    end = T0 + timedelta(seconds=3)
    result = run_cqt("bars", "rebuild", "--start", "2026-11-20T10:00:01Z", "--end", end.isoformat(),
                     cwd=tmp_path, env={"DB_URL": fresh_db})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rebuilt 3 bars for 1 symbol(s)" in result.stdout
    with psycopg.connect(db) as conn:
        bars = conn.execute(
            "SELECT extract(epoch FROM ts - %s)::int, open, high, low, close, volume, buy_volume, sell_volume,"
            " n_trades, stale, revision FROM market_1s ORDER BY ts",
            (T0,),
        ).fetchall()
    assert bars == [
        (1, 100.0, 104.0, 100.0, 104.0, 4.0, 1.0, 3.0, 2, False, 1),  # revised: both trades now in
        (2, 104.0, 104.0, 104.0, 104.0, 0.0, 0.0, 0.0, 0, True, 0),  # no trade: carried, stale
        (3, 101.0, 101.0, 101.0, 101.0, 2.0, 2.0, 0.0, 1, False, 0),
    ]


def test_rebuild_refuses_bad_ranges(tmp_path: Path) -> None:
    env = {"DB_URL": "postgresql://nobody@127.0.0.1:1/none"}
    backwards = run_cqt("bars", "rebuild", "--start", "2026-11-20T10:00:05", "--end", "2026-11-20T10:00:00",
                        cwd=tmp_path, env=env)  # fmt: skip
    assert backwards.returncode == 2 and "is before --start" in backwards.stderr
    garbled = run_cqt("bars", "rebuild", "--start", "yesterday", "--end", "2026-11-20T10:00:00",
                      cwd=tmp_path, env=env)  # fmt: skip
    assert garbled.returncode == 2 and "expected an ISO time" in garbled.stderr
    unreachable = run_cqt("bars", "rebuild", "--start", "2026-11-20T10:00:00", "--end", "2026-11-20T10:00:09",
                          cwd=tmp_path, env=env)  # fmt: skip
    assert unreachable.returncode == 2 and "DB_CONNECT_FAIL" in unreachable.stderr
