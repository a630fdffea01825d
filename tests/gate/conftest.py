"""Planting gate evidence in a real database: bot runs with their heartbeat snapshots, Coinglass calls."""

from __future__ import annotations

import psycopg


def plant_run(
    conninfo: str,
    *,
    source: str = "live",
    started_s_ago: float,
    stopped_s_ago: float | None = None,
    cause: str | None = None,
    beats_every_s: float | None = 5.0,
    gap: tuple[float, float] | None = None,
) -> int:
    """A bot_runs row started `started_s_ago`, stopped `stopped_s_ago` (None: running, fresh heartbeat),
    with writer_status snapshots every `beats_every_s` except inside `gap` (seconds after the start)."""
    end_ago = 0.0 if stopped_s_ago is None else stopped_s_ago
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO bot_runs (started_at, heartbeat_at, stopped_at, stop_cause, source, symbols, host, pid,"
            " version) VALUES (now() - make_interval(secs => %(start)s), now() - make_interval(secs => %(end)s),"
            " CASE WHEN %(stopped)s THEN now() - make_interval(secs => %(end)s) END, %(cause)s, %(source)s,"
            " ARRAY['BTCUSDT'], 'test', 1, 'test') RETURNING run_id",
            {"start": started_s_ago, "end": end_ago, "stopped": stopped_s_ago is not None, "cause": cause,
             "source": source},
        ).fetchone()  # fmt: skip
        assert row is not None
        run_id = int(row[0])
        if beats_every_s is not None:
            offsets = [
                t * beats_every_s
                for t in range(int((started_s_ago - end_ago) / beats_every_s) + 1)
                if gap is None or not gap[0] < t * beats_every_s < gap[1]
            ]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO writer_status (run_id, ts, rows_inserted, spool_depth, db_up)"
                    " VALUES (%s, now() - make_interval(secs => %s), 0, 0, true)",
                    [(run_id, started_s_ago - off) for off in offsets],
                )
    return run_id


def plant_calls(conninfo: str, ok: int, failed: int, s_ago: float = 30.0) -> None:
    """Coinglass calls `s_ago` seconds back: `ok` good ones and `failed` HTTP-200-with-error-code ones."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO coinglass_call_status (ts, symbol, endpoint, ok, http_status, body_code, error)"
            " VALUES (now() - make_interval(secs => %s), 'BTC', %s, %s, 200, %s, %s)",
            [(s_ago + i, f"/api/ok/{i}", True, "0", None) for i in range(ok)]
            + [(s_ago + ok + i, "/api/futures/oi", False, "401", "bad key") for i in range(failed)],
        )
