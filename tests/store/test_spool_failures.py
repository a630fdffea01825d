"""A spool that cannot take batches while PostgreSQL is down never silences the writer: the failure is logged
at once (an ALARM, not a traceback per flush), recorded in bot_events and writer_status, the rows stay in
memory (past the bound: kept, and said so), and once PostgreSQL is back every row is written exactly once;
in the writer alone (ENOSPC, a file in place of the directory) and in the whole bot."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from cqt.bot.run_record import RunRecord, shard_keys
from cqt.bot.status_snapshot import Snapshot, writer_row
from cqt.db import embedded
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.writer import Writer
from tests.bot.test_bot import METRICS_URL, wait_for_log
from tests.ledger_check import check_trades, sent_trade_ids
from tests.settings_env import bot_environ
from tests.store.test_writer import count, trade


class FillingDisk(Spool):
    """A spool whose disk fills up on demand: every write then fails with ENOSPC, as on a full filesystem."""

    full = False

    def _write_file(self, path: Path, payload: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        super()._write_file(path, payload)


async def until(condition: Callable[[], bool], writer: Writer, what: str) -> None:
    """Flush until `condition` holds (at most ~20 s)."""
    for _ in range(200):
        await writer.flush()
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


def latest_writer_status(conninfo: str, run_id: int) -> tuple[object, ...] | None:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT spool_failing, last_error, backlog_rows FROM writer_status WHERE run_id = %s"
            " ORDER BY ts DESC LIMIT 1",
            (run_id,),
        ).fetchone()


async def test_disk_full_during_an_outage_alarms_keeps_the_rows_and_writes_them_later(
    own_server: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data_dir, conninfo = own_server
    record = RunRecord(conninfo, "live", ["BTCUSDT"], shard_keys("live", ["BTCUSDT"], []), heartbeat_s=0.2)
    run_id = await record.open()
    spool = FillingDisk(tmp_path / "spool", 10**8)
    writer = Writer(
        conninfo, spool, max_latency_s=0.05, reconnect_max_s=0.2, max_held_rows=2_500,
        on_event=lambda kind, detail: record.event("writer", kind, detail),
    )  # fmt: skip
    record.snapshot = lambda: Snapshot([], writer_row(writer, datetime.now(UTC)))
    beats = asyncio.create_task(record.heartbeat())
    await writer.start()
    writer.put("trades", [trade(i) for i in range(1000)])
    await writer.flush()
    assert count(conninfo) == (1000, 1000)

    embedded.stop(data_dir)
    spool.full = True
    for start in range(1000, 4000, 500):
        writer.put("trades", [trade(i) for i in range(start, start + 500)])
        await writer.flush()
    assert writer.backlog_rows == 3000 and spool.depth == 0  # all in memory, nothing half-written on disk
    assert list(spool.directory.iterdir()) == []
    assert "No space left on device" in (writer.metrics.spool_error or "")
    assert writer.metrics.spool_write_errors >= 6  # retried at every flush
    alarms = [r.getMessage() for r in caplog.records if r.levelname == "CRITICAL"]
    disk = [
        a for a in alarms if a.startswith("ALARM the spool cannot take batches ([Errno 28] No space left")
    ]
    assert len(disk) == 1, alarms  # logged at once, then not at every flush
    assert any("over the bound of 2500: nothing is dropped" in a for a in alarms), alarms
    assert not any(r.exc_info for r in caplog.records)  # a one-line alarm, not a traceback per flush

    embedded.start(data_dir)
    # the disk is still full: the rows go straight to PostgreSQL, and the heartbeat shows the failing spool
    await until(lambda: writer.backlog_rows == 0, writer, "the held rows are written")
    assert count(conninfo) == (4000, 4000)
    await until(
        lambda: (latest_writer_status(conninfo, run_id) or [-1])[-1] == 0, writer, "a later heartbeat"
    )
    status = latest_writer_status(conninfo, run_id)
    assert status is not None and status[0] is True and "No space left on device" in str(status[1])

    spool.full = False  # space freed: the next flush probes the spool and clears the flag
    await until(lambda: writer.metrics.spool_error is None, writer, "the spool recovers")
    await until(
        lambda: (latest_writer_status(conninfo, run_id) or (True,))[0] is False, writer, "recovery recorded"
    )
    record.stop()
    await beats
    await record.close("duration")
    await writer.stop()
    assert count(conninfo) == (4000, 4000)  # zero missing, zero duplicated
    with psycopg.connect(conninfo) as conn:
        events = conn.execute(
            "SELECT component, kind, detail FROM bot_events WHERE run_id = %s ORDER BY id", (run_id,)
        ).fetchall()
    assert [(c, k) for c, k, _ in events] == [
        ("writer", "spool_failing"),
        ("writer", "backlog_over_bound"),
        ("writer", "spool_recovered"),
    ], events
    assert "No space left on device" in events[0][2] and "3000 rows held in memory" in events[1][2]


async def test_a_spool_directory_replaced_by_a_file_is_passed_by_then_replayed(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, conninfo = own_server
    root = tmp_path / "spool"
    writer = Writer(conninfo, Spool(root, 10**8), max_latency_s=0.05, reconnect_max_s=0.2)
    await writer.start()
    writer.put("trades", [trade(i) for i in range(100)])
    await writer.flush()

    embedded.stop(data_dir)
    writer.put("trades", [trade(i) for i in range(100, 200)])
    await writer.flush()
    assert writer.metrics.spool_depth == 1
    root.rename(tmp_path / "moved")  # a person moves the spool away and leaves a file in its place
    root.write_text("not a directory\n")
    writer.put("trades", [trade(i) for i in range(200, 300)])
    await writer.flush()
    assert writer.backlog_rows == 100 and "Not a directory" in (writer.metrics.spool_error or "")

    embedded.start(data_dir)
    # the spool cannot even be listed: the writer does not wait for it, new rows are written
    await until(lambda: writer.backlog_rows == 0, writer, "the held rows are written")
    assert count(conninfo) == (200, 200)
    assert writer.metrics.spool_error is not None  # still broken, still said

    root.unlink()
    (tmp_path / "moved").rename(root)
    await until(lambda: writer.metrics.spool_depth == 0, writer, "the spooled batch is replayed")
    await writer.stop()
    assert writer.metrics.spool_error is None
    assert count(conninfo) == (300, 300)


def test_the_bot_records_a_failing_spool_and_loses_no_trade(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    """The whole bot: its spool directory turns into a file, then PostgreSQL goes away for 8 s."""
    data_dir, conninfo = own_server
    with SimServer.in_thread(
        SimConfig(seed=5, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    ) as sim:
        env = bot_environ(tmp_path, conninfo, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
        with open(tmp_path / "stderr", "w") as err:  # a file: a full pipe would block the bot
            bot = subprocess.Popen(
                [sys.executable, "-m", "cqt.bot", "--source", "live"], cwd=tmp_path, env=env, text=True,
                stdout=subprocess.PIPE, stderr=err,
            )  # fmt: skip
        try:
            wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL, 60)
            time.sleep(3)
            (own,) = [d for d in (tmp_path / "spool").iterdir() if d.name != "rejected"]
            own.rename(tmp_path / "moved")
            own.write_text("not a directory\n")
            embedded.stop(data_dir)
            time.sleep(8)
            embedded.start(data_dir)
            time.sleep(10)
            bot.send_signal(signal.SIGTERM)
            bot.communicate(timeout=60)
        finally:
            if bot.poll() is None:
                bot.kill()
        sent = sent_trade_ids(sim)
    stderr = (tmp_path / "stderr").read_text()
    assert bot.returncode == 0, stderr[-3000:]
    assert (
        "CRITICAL cqt.store.writer: ALARM the spool cannot take batches ([Errno 20] Not a directory" in stderr
    )
    with psycopg.connect(conninfo) as conn:
        events = conn.execute("SELECT kind, detail FROM bot_events WHERE component = 'writer'").fetchall()
        assert [k for k, _ in events] == ["spool_failing"] and "Not a directory" in events[0][1], events
        flags = conn.execute("SELECT bool_or(spool_failing), max(last_error) FROM writer_status").fetchone()
        assert flags is not None and flags[0] is True and "Not a directory" in flags[1]
    for (exchange, ids), symbol in zip(sent.items(), ("BTCUSDT", "KRW-BTC"), strict=True):
        check_trades(conninfo, "spool unwritable, PostgreSQL down 8 s", exchange, symbol, ids, minimum=100)


async def test_rejected_rows_the_disk_cannot_keep_are_named_and_block_nothing(
    db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    writer = Writer(db, Spool(tmp_path / "spool", 10**7, rejected_dir=tmp_path / "file" / "rejected"))
    bad = list(trade(1))
    bad[5] = -1.0  # price must be > 0 (CHECK constraint)
    writer.put("trades", [tuple(bad), trade(2)])
    await writer.flush()
    writer.put("trades", [trade(3)])
    await writer.flush()
    await writer.stop()
    assert count(db) == (2, 2)  # the good rows of that batch and the batch behind it
    assert writer.metrics.rejected_rows == 1 and writer.metrics.spool_write_errors == 1
    dropped = [r.getMessage() for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(dropped) == 1 and "cannot be kept aside" in dropped[0] and "-1.0" in dropped[0], dropped
