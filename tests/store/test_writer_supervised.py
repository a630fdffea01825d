"""The writer runs under the bot's supervisor like a collector: killed in the middle of a batch, it is
recorded as a crash, restarted, and writes its whole backlog; nothing put before or after is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cqt.bot.supervisor import Supervisor
from cqt.collect.collection import Component
from cqt.store.spool import Spool
from cqt.store.writer import Writer
from tests.store.test_writer import count, trade

BIG = 60_000  # rows of one put: its COPY takes long enough to be killed in the middle


async def _until_writing(writer: Writer) -> None:
    for _ in range(2000):
        if writer._drain_lock.locked():  # a drain (COPY + INSERT) is under way
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the writer never started a drain")


async def test_a_writer_killed_mid_batch_restarts_with_its_backlog(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**8), max_latency_s=0.05)
    events: list[tuple[str, str]] = []
    supervisor = Supervisor(lambda comp, kind, _detail: events.append((comp, kind)), backoff_initial_s=0.1)
    comp = Component("writer", writer.run, writer.request_stop, intake=False)
    task = supervisor.start(comp)
    put = 0
    for kill in range(2):
        writer.put("trades", [trade(i) for i in range(put, put + BIG)])
        put += BIG
        await _until_writing(writer)
        assert supervisor.kill("writer"), f"kill {kill}: no running writer"
        # rows put while it is down wait in memory for the restarted run
        writer.put("trades", [trade(i) for i in range(put, put + 100)])
        put += 100
        while supervisor.restarts["writer"] <= kill:
            await asyncio.sleep(0.02)
    await writer.flush(timeout_s=60)
    assert count(db) == (put, put)
    comp.request_stop()
    await asyncio.wait_for(task, 30)
    await writer.stop()
    assert events == [("writer", "crash"), ("writer", "restart")] * 2
    assert writer.metrics.rejected_rows == 0 and writer.spool.depth == 0
