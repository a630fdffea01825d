"""The bot as a process (`python -m cqt.bot`) against the simulator and a real PostgreSQL.

One bounded `--source sim` run checks the evidence a run leaves (trades, hole-free bars, predictions
every 5 s, settled predictions, a complete bot_runs row), the metrics endpoint, the single-instance lock
and a killed task's restart. A second run uses `--source live` with the venue URLs pointed at a simulator
in this test process, so the simulator's own record of what it sent is the reference for "SIGTERM
mid-run loses no row".
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.settings_env import bot_environ

METRICS_URL = re.compile(r"metrics (http://127\.0\.0\.1:\d+/metrics)")


def start_bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cqt.bot", *args], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_for_log(path: Path, pattern: re.Pattern[str], timeout_s: float = 30.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            found = pattern.search(path.read_text())
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError(f"{pattern.pattern!r} not in {path} after {timeout_s}s")


def test_sim_run_leaves_complete_evidence(db: str, tmp_path: Path) -> None:
    env = bot_environ(tmp_path, db)
    bot = start_bot(tmp_path, env, "--source", "sim", "--duration", "50", "--horizon", "10",
                    "--kill-task", "binance-ws@12")  # fmt: skip
    try:
        try:
            url = wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL).group(1)
        except AssertionError:
            bot.kill()
            raise AssertionError(bot.communicate()[1][-3000:]) from None
        # a second bot for the same shards on the same database is refused, with the holder named
        second = subprocess.run(
            [sys.executable, "-m", "cqt.bot", "--source", "sim", "--duration", "5"],
            cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert "another cqt bot is already collecting" in second.stderr
        assert second.stdout == "" and "Traceback" not in second.stderr  # no run, so no summary
        assert f"pid {bot.pid}" in second.stderr
        time.sleep(20)
        metrics = urllib.request.urlopen(url, timeout=5).read().decode()
        out, err = bot.communicate(timeout=90)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, err[-3000:]
    for name in ("cqt_stream_last_message_age_seconds", "cqt_ws_reconnects_total", "cqt_malformed_frames_total",
                 "cqt_gaps_total", "cqt_write_latency_seconds", "cqt_spool_depth_batches", "cqt_bar_lag_seconds",
                 "cqt_prediction_lag_seconds", "cqt_task_restarts_total"):  # fmt: skip
        assert name in metrics, name
    assert re.search(r'cqt_stream_last_message_age_seconds\{clock="receive",exchange="binance"', metrics)
    assert re.search(r'cqt_stream_messages_total\{exchange="binance",stream="aggTrade"\} [1-9]', metrics)

    with psycopg.connect(db) as conn:
        run = conn.execute(
            "SELECT run_id, source, stop_cause, stopped_at - started_at, stopped_at - heartbeat_at"
            " FROM bot_runs"
        ).fetchall()
        assert len(run) == 1  # the refused bot left no run row
        run_id, source, cause, length, since_beat = run[0]
        assert (source, cause) == ("sim", "duration")
        assert 50 <= length.total_seconds() < 70 and since_beat.total_seconds() <= 1
        events = conn.execute(
            "SELECT component, kind FROM bot_events WHERE run_id = %s ORDER BY id", (run_id,)
        )
        assert [tuple(e) for e in events] == [("binance-ws", "crash"), ("binance-ws", "restart")]
        trades = conn.execute("SELECT exchange, count(*) FROM trades GROUP BY exchange ORDER BY 1").fetchall()
        assert [t[0] for t in trades] == ["binance", "upbit"] and all(t[1] > 100 for t in trades)
        holes = conn.execute(
            "SELECT exchange, symbol, count(*), extract(epoch FROM max(ts) - min(ts)) FROM market_1s"
            " GROUP BY exchange, symbol"
        ).fetchall()
        assert len(holes) == 2
        for exchange, symbol, n, span in holes:
            assert n == span + 1 and n > 30, f"{exchange} {symbol}: {n} bars over {span}s"
        t0s = [r[0] for r in conn.execute("SELECT ts FROM predictions ORDER BY ts")]
        assert len(t0s) >= 4
        assert {(b - a).total_seconds() for a, b in zip(t0s, t0s[1:], strict=False)} == {5.0}
        settled = conn.execute(
            "SELECT count(*) FROM predictions WHERE y IS NOT NULL AND brier IS NOT NULL AND log_loss IS NOT NULL"
            " AND label_ts >= ts + interval '10 seconds'"
        ).fetchone()
        assert settled is not None and settled[0] >= 1
        gaps = conn.execute("SELECT status, count(*) FROM gaps GROUP BY status").fetchall()
        assert all(status == "filled" for status, _ in gaps), gaps  # the killed collector lost nothing

        # every heartbeat left a snapshot of the collectors and the writer for other processes to judge
        status = conn.execute(
            "SELECT exchange, stream, connection, array_agg(messages ORDER BY ts), max(last_event_ts)"
            " FROM stream_status WHERE run_id = %s GROUP BY 1, 2, 3",
            (run_id,),
        ).fetchall()
        by_stream = {(e, s): (c, counts, last) for e, s, c, counts, last in status}
        for key, connection in ((("binance", "aggTrade"), "binance/market"),
                                (("binance", "bookTicker"), "binance/public"), (("upbit", "trade"), "upbit")):  # fmt: skip
            conn_name, counts, last = by_stream[key]
            assert conn_name == connection and len(counts) >= 8 and last is not None, (key, by_stream[key])
            assert counts == sorted(counts) and counts[-1] > counts[0] > 0, (key, counts)
        writer = conn.execute(
            "SELECT array_agg(rows_inserted ORDER BY ts), bool_and(db_up) FILTER (WHERE rows_inserted > 0),"
            " max(spool_depth) FROM writer_status"
            " WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        assert writer is not None
        inserted, always_up, spooled = writer
        assert always_up and spooled == 0 and inserted == sorted(inserted) and inserted[-1] > inserted[0], (
            writer
        )
        assert_summary_matches(out, conn, run_id)


def assert_summary_matches(out: str, conn: psycopg.Connection[tuple[object, ...]], run_id: int) -> None:
    """The end-of-run summary on stdout against the database, counted independently (it holds this run only)."""
    assert out.startswith(f"run {run_id} (sim) stopped after "), out
    stored = re.search(r"rows stored: (.*)", out)
    assert stored is not None, out
    rows = {name: int(n) for name, n in (item.split(" ") for item in stored.group(1).split(", "))}
    tables = (
        "trades",
        "quotes",
        "market_1s",
        "mark_price",
        "liquidations",
        "metrics",
        "coinglass_call_status",
        "gaps",
        "predictions",
    )
    assert set(rows) == set(tables)
    for table in tables:
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        assert count is not None and rows[table] == count[0], (table, rows[table], count[0])
    assert rows["trades"] > 100 and rows["market_1s"] > 60
    predictions = re.search(
        r"predictions: (\d+) made, (\d+) settled \((\d+) labelled, mean Brier ([\d.]+)\)", out
    )
    assert predictions is not None, out
    expected = conn.execute(
        "SELECT count(*), count(settled_at), count(y), round(avg(brier)::numeric, 3) FROM predictions"
    ).fetchone()
    assert expected is not None
    made, settled, labelled, brier = predictions.groups()
    assert (int(made), int(settled), int(labelled), brier) == (*expected[:3], str(expected[3])), expected
    gaps = re.search(r"gaps: (\d+) opened, (\d+) filled, (\d+) unfillable", out)
    ledger = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'filled'), count(*) FILTER (WHERE status = 'unfillable')"
        " FROM gaps"
    ).fetchone()
    assert gaps is not None and ledger is not None and tuple(int(g) for g in gaps.groups()) == ledger
    assert "data: postgresql://" in out and "embedded server" not in out  # DB_URL: nothing of cqt's to stop
    assert "cqt check all --source sim --window " in out and "cqt export --source sim --output " in out


def test_sigterm_mid_run_loses_no_row(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(
        SimConfig(seed=3, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    ) as sim:
        env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
        bot = start_bot(tmp_path, env, "--source", "live")
        try:
            wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL)
            time.sleep(8)
            bot.send_signal(signal.SIGTERM)
            out, err = bot.communicate(timeout=60)
        finally:
            if bot.poll() is None:
                bot.kill()
        binance_sent, upbit_sent = (
            sim.ledger.binance_trade_ids("BTCUSDT"),
            sim.ledger.upbit_trade_ids("KRW-BTC"),
        )
    assert bot.returncode == 0, err[-3000:]
    with psycopg.connect(db) as conn:
        cause = conn.execute(
            "SELECT stop_cause, stop_detail, stopped_at IS NOT NULL FROM bot_runs"
        ).fetchone()
        assert cause == ("signal", "SIGTERM", True)
        for exchange, sent in (("binance", binance_sent), ("upbit", upbit_sent)):
            stored = [r[0] for r in conn.execute(
                "SELECT trade_id FROM trades WHERE exchange = %s ORDER BY trade_id", (exchange,)
            )]  # fmt: skip
            assert len(stored) > 50
            assert stored == [i for i in sent if stored[0] <= i <= stored[-1]], exchange


@pytest.mark.parametrize("args", [["--source", "moon"], ["--symbols", "BTC-USD"]])
def test_bad_options_exit_2_with_the_reason(args: list[str], db: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cqt.bot", *args], cwd=tmp_path, env=bot_environ(tmp_path, db),
        text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        "--source must be one of live, sim" if "moon" in args else "Binance USD-M symbols"
    ) in result.stderr
