"""The bot's run in the database: the single-instance locks, the `bot_runs` row and its events.

One advisory lock per shard `(venue, symbol)` (docs/design.md §9) is taken on a dedicated connection
that lives as long as the run; a second bot for any of the same shards on the same database is refused
with the holder's pid, host and run id. The same connection writes the heartbeat every `heartbeat_s`.
If PostgreSQL goes away the locks go with the session: the heartbeat loop reconnects and takes them
again; if another process got them meanwhile, the run ends with stop cause `lost`.

Task events (crash, restart) are queued in memory and written with the next heartbeat, so an event that
happens while PostgreSQL is down is written when it is back.

The stop is written within the shutdown's bound (docs/design.md §5.7). A row PostgreSQL could not take
then (a SIGTERM during an outage) or that no process closed (a kill) is closed by the next start, with
stop cause `lost` and a detail saying why: its process is gone from this host, or its heartbeat is older
than `STALE_RUN_S`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

import cqt
from cqt.bot.status_snapshot import Snapshot
from cqt.collect.stopping import finish_by

log = logging.getLogger(__name__)

# A run row whose heartbeat is older than this is closed as `lost` by the next start whatever its host:
# a process that has not reached PostgreSQL for that long records nothing of its run any more.
STALE_RUN_S = 600.0
CLOSE_RETRY_S = 1.0


class AlreadyRunning(RuntimeError):
    """Another bot holds a shard lock on this database."""


class RunLost(RuntimeError):
    """The shard locks were lost to another process after a database outage."""


def shard_keys(source: str, binance_symbols: Sequence[str], upbit_markets: Sequence[str]) -> list[str]:
    """Lock names of the shards a bot collects; `source` keeps a sim bot from blocking a live one."""
    return [f"cqt:{source}:binance:{s}" for s in binance_symbols] + [
        f"cqt:{source}:upbit:{m}" for m in upbit_markets
    ]


class RunRecord:
    """Owns the run's locks, its `bot_runs` row and the heartbeat."""

    def __init__(
        self, conninfo: str, source: str, symbols: list[str], shards: list[str], *, heartbeat_s: float = 5.0
    ) -> None:
        self.conninfo = conninfo
        self.source = source
        self.symbols = symbols
        self.shards = shards
        self.heartbeat_s = heartbeat_s
        self.run_id: int | None = None
        self.events: list[tuple[datetime, str, str, str]] = []
        self.heartbeats = 0
        self.snapshot: Callable[[], Snapshot] | None = None  # set once the collectors run
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._stop = asyncio.Event()

    async def open(self) -> int:
        """Take every shard lock and insert the run row; AlreadyRunning if a lock is held elsewhere."""
        self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        if not await self._lock_all(self._conn):
            holder = await self._holder(self._conn)
            await self._conn.close()
            raise AlreadyRunning(holder)
        cur = await self._conn.execute(
            "INSERT INTO bot_runs (source, symbols, host, pid, version) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING run_id",
            (self.source, self.symbols, socket.gethostname(), os.getpid(), cqt.__version__),
        )
        row = await cur.fetchone()
        assert row is not None
        self.run_id = int(row[0])
        await self._close_abandoned(self._conn)
        return self.run_id

    async def _close_abandoned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Close as `lost` every run row its process left open (stopped while PostgreSQL was away, killed):
        on this host when its pid no longer runs, on any host when its heartbeat is older than
        `STALE_RUN_S`. Its stop time is its last heartbeat, the last moment it is known to have run."""
        host = socket.gethostname()
        cur = await conn.execute(
            "SELECT run_id, host, pid, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float8"
            " FROM bot_runs WHERE stopped_at IS NULL AND run_id <> %s ORDER BY run_id",
            (self.run_id,),
        )
        for run_id, run_host, pid, beat, age in await cur.fetchall():
            if run_host == host and not pid_running(pid):
                why = f"its process (pid {pid} on {host}) is no longer running"
            elif age > STALE_RUN_S:
                why = f"no heartbeat for {age:.0f} s (more than {STALE_RUN_S:.0f} s)"
            else:
                continue
            detail = (
                f"not closed by its own process: {why}; stopped at its last heartbeat"
                f" {beat.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; closed at the start of run {self.run_id}"
            )
            await conn.execute(
                "UPDATE bot_runs SET stopped_at = heartbeat_at, stop_cause = 'lost', stop_detail = %s"
                " WHERE run_id = %s AND stopped_at IS NULL",
                (detail, run_id),
            )
            log.warning("run %d closed as lost: %s", run_id, detail)

    async def _lock_all(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        for key in self.shards:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
            got = await cur.fetchone()
            if not (got and got[0]):
                await conn.execute("SELECT pg_advisory_unlock_all()")
                return False
        return True

    async def _holder(self, conn: psycopg.AsyncConnection[Any]) -> str:
        cur = await conn.execute(
            "SELECT run_id, pid, host, started_at, heartbeat_at FROM bot_runs"
            " WHERE stopped_at IS NULL AND source = %s ORDER BY heartbeat_at DESC LIMIT 1",
            (self.source,),
        )
        row = await cur.fetchone()
        shards = ", ".join(k.split(":", 2)[2] for k in self.shards)
        if row is None:
            return f"another process holds a collection lock for {shards} on this database"
        return (
            f"another cqt bot is already collecting ({shards}) on this database: run {row[0]}, pid {row[1]}"
            f" on {row[2]}, started {row[3]:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {row[4]:%H:%M:%S} UTC;"
            " stop it first (SIGTERM) or use other symbols"
        )

    def event(self, component: str, kind: str, detail: str) -> None:
        """Queue a task event for the next heartbeat."""
        self.events.append((datetime.now(UTC), component, kind, detail[:2000]))

    async def heartbeat(self) -> None:
        """Every `heartbeat_s` until `stop()`: heartbeat + queued events; re-lock after an outage."""
        while not self._stop.is_set():
            try:
                await self._beat()
            except psycopg.OperationalError as exc:
                log.warning("heartbeat: PostgreSQL unavailable (%s)", str(exc).strip().splitlines()[0])
                await self._drop_conn()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.heartbeat_s)
            except TimeoutError:
                pass

    async def _beat(self) -> None:
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            if not await self._lock_all(conn):
                await conn.close()
                raise RunLost(
                    "the collection locks were taken by another process while PostgreSQL was unavailable"
                )
            self._conn = conn
            log.info("heartbeat: reconnected and re-took the collection locks")
        await self._conn.execute("UPDATE bot_runs SET heartbeat_at = now() WHERE run_id = %s", (self.run_id,))
        self.heartbeats += 1
        if self.events:
            pending, self.events = self.events, []
            try:
                async with self._conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO bot_events (run_id, ts, component, kind, detail) VALUES (%s, %s, %s, %s, %s)",
                        [(self.run_id, *e) for e in pending],
                    )
            except psycopg.OperationalError:
                self.events = pending + self.events
                raise
        if self.snapshot is not None:
            await self._write_snapshot(self._conn, self.snapshot())

    async def _write_snapshot(self, conn: psycopg.AsyncConnection[Any], snap: Snapshot) -> None:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO stream_status (run_id, ts, exchange, stream, connection, messages, malformed,"
                " reconnects, stalls, last_event_ts, last_recv_ts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(self.run_id, *row) for row in snap.streams],
            )
            await cur.execute(
                "INSERT INTO writer_status (run_id, ts, rows_inserted, spool_depth, db_up, last_batch_ms,"
                " max_batch_ms, backlog_rows, spool_failing, last_error)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (self.run_id, *snap.writer),
            )

    async def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def stop(self) -> None:
        """End the heartbeat loop."""
        self._stop.set()

    async def close(self, cause: str, detail: str = "", *, timeout_s: float = 10.0) -> bool:
        """Write the last events and the stop (time, cause, detail) and release the locks, retrying for at
        most `timeout_s`. False when PostgreSQL did not take it by then: the row stays open and the next
        start closes it as `lost` (see `_close_abandoned`)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        attempt = asyncio.ensure_future(self._close_until(cause, detail, until))
        await finish_by({attempt: f"closing run {self.run_id}"}, until)
        await self._drop_conn()
        if attempt.cancelled():
            failed: str | None = "no answer"
        elif (exc := attempt.exception()) is not None:
            failed = _first_line(exc)
        else:
            failed = attempt.result()
        if failed:
            log.warning(
                "run %s not closed: PostgreSQL did not take its stop within %.1f s (%s)",
                self.run_id,
                timeout_s,
                failed,
            )
        return not failed

    async def _close_until(self, cause: str, detail: str, until: float) -> str | None:
        """Close the row, retrying until the loop time `until`; None once closed, else the last error."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._close_row(cause, detail)
                return None
            except psycopg.OperationalError as exc:
                await self._drop_conn()
                if loop.time() + CLOSE_RETRY_S >= until:
                    return _first_line(exc)
                log.warning(
                    "could not close run %s yet (%s); retry %d", self.run_id, _first_line(exc), attempt
                )
                await asyncio.sleep(CLOSE_RETRY_S)

    async def _close_row(self, cause: str, detail: str) -> None:
        try:
            await self._beat()
        except RunLost:
            # Another process collects these shards now; closing our own run row needs no lock.
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            await self._beat()
        assert self._conn is not None
        await self._conn.execute(
            "UPDATE bot_runs SET stopped_at = now(), heartbeat_at = now(), stop_cause = %s,"
            " stop_detail = %s WHERE run_id = %s",
            (cause, detail[:2000] or None, self.run_id),
        )


def pid_running(pid: int) -> bool:
    """Whether a process `pid` exists on this host (one of another user counts)."""
    if pid <= 0:  # 0 and negative pids name process groups, not a process
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
