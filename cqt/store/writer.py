"""The storage writer: batched binary COPY into staging tables, then idempotent INSERTs.

Collectors call `put()` (non-blocking); a background task flushes when a batch reaches `max_batch_rows`
or `max_latency_s` after the first buffered row, whichever comes first, so write latency is bounded.
Each flush is one transaction: for every table, `COPY stage FROM STDIN (FORMAT BINARY)` then
`INSERT ... SELECT ... ON CONFLICT (natural key) DO NOTHING` (bars: keep the highest revision).

When PostgreSQL is unreachable, batches go to the on-disk `Spool` and are replayed in order once it is
back; while anything is spooled, new batches queue behind it so order is kept. If the spool is full the
batch stays in memory and an alarm is logged and counted: nothing is dropped silently. A batch that
PostgreSQL rejects for its content (not for a lost connection) is moved to `rejected/` beside the spool,
counted and logged, so one bad row cannot block the pipeline forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from cqt.store.spool import Batch, Row, Spool, SpoolFullError
from cqt.store.tables import SPECS, TableSpec

log = logging.getLogger(__name__)


@dataclass
class WriterMetrics:
    """Counters and gauges of the writer (exported by the bot as Prometheus metrics)."""

    batches_written: int = 0
    rows_written: int = 0
    rows_inserted: int = 0  # rows_written minus duplicates the natural keys absorbed
    last_batch_rows: int = 0
    last_batch_latency_s: float = 0.0
    max_batch_latency_s: float = 0.0
    spool_depth: int = 0
    spool_bytes: int = 0
    spooled_batches: int = 0
    replayed_batches: int = 0
    spool_full_alarms: int = 0
    rejected_batches: int = 0
    reconnects: int = 0
    connected: bool = False


def _stage(spec: TableSpec) -> sql.Identifier:
    return sql.Identifier(f"stage_{spec.name}")


def _insert_statement(spec: TableSpec) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    if spec.revision_column is None:
        return sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) DO NOTHING").format(
            t=sql.Identifier(spec.name), c=cols, s=_stage(spec), k=key
        )
    rev = sql.Identifier(spec.revision_column)
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in spec.columns if c not in spec.key
    )
    # One row per key (highest revision) so ON CONFLICT DO UPDATE never meets the same key twice.
    return sql.SQL(
        "INSERT INTO {t} ({c}) SELECT DISTINCT ON ({k}) {c} FROM {s} ORDER BY {k}, {r} DESC"
        " ON CONFLICT ({k}) DO UPDATE SET {u} WHERE {t}.{r} <= EXCLUDED.{r}"
    ).format(t=sql.Identifier(spec.name), c=cols, s=_stage(spec), k=key, r=rev, u=updates)


class Writer:
    """Asynchronous batch writer for the tables of `cqt.store.tables.SPECS`."""

    def __init__(
        self,
        conninfo: str,
        spool: Spool,
        *,
        max_batch_rows: int = 20_000,
        max_latency_s: float = 0.25,
        reconnect_max_s: float = 5.0,
        on_commit: Callable[[Batch, float], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        # Called with each committed batch and the wall time (time.time()) right after its commit, so
        # benchmarks and monitors can measure event->commit latency; it runs on the writer task: keep it
        # cheap and do not raise.
        self.on_commit = on_commit
        self.spool = spool
        self.max_batch_rows = max_batch_rows
        self.max_latency_s = max_latency_s
        self.reconnect_max_s = reconnect_max_s
        self.metrics = WriterMetrics(spool_depth=spool.depth, spool_bytes=spool.bytes_used)
        self._buffer: dict[str, list[Row]] = defaultdict(list)
        self._buffered = 0
        self._held: list[Batch] = []  # batches the full spool could not take, oldest first
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._staged: set[str] = set()
        self._next_connect = 0.0
        self._backoff = 0.1
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flushed = asyncio.Condition()

    # ---- producer side --------------------------------------------------------------------------
    def put(self, table: str, rows: list[Row]) -> None:
        """Queue rows (tuples in the table's column order). Never blocks."""
        if table not in SPECS:
            raise KeyError(f"the writer does not handle table {table!r}")
        if not rows:
            return
        self._buffer[table].extend(rows)
        self._buffered += len(rows)
        if self._buffered >= self.max_batch_rows:
            self._wake.set()

    @property
    def backlog_rows(self) -> int:
        """Rows buffered in memory (not yet written nor spooled)."""
        return self._buffered + sum(sum(len(r) for r in b.values()) for b in self._held)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the background flusher (replays any spool left by an earlier run first)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")

    async def flush(self) -> None:
        """Write everything buffered now and wait until it is committed or spooled."""
        if self._task is None:
            await self._drain()
            return
        async with self._flushed:
            self._wake.set()
            await self._flushed.wait()

    async def stop(self) -> None:
        """Flush, replay what can be replayed, close the connection."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        else:  # never started: still write what was put
            await self._drain()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # ---- the flusher ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.max_latency_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self._drain()
            async with self._flushed:
                self._flushed.notify_all()
            # rows put while that drain was running (e.g. the final bars at shutdown) still go out
            if self._stopping and not self._buffered:
                return

    async def _drain(self) -> None:
        batch = self._take_buffer()
        if batch:
            self._held.append(batch)
        if not self._held and self.spool.depth == 0:
            return
        # Order: spooled batches are older than held ones (a batch is held only when the spool is full).
        if await self._connected():
            if self.spool.depth:
                await self._replay()
            while self._held and self.spool.depth == 0:
                if not await self._write_or_keep(self._held[0]):
                    break
                self._held.pop(0)
        self._spool_held()

    def _take_buffer(self) -> Batch:
        batch = {table: rows for table, rows in self._buffer.items() if rows}
        self._buffer = defaultdict(list)
        self._buffered = 0
        return batch

    async def _write_or_keep(self, batch: Batch) -> bool:
        """Write `batch`; True when committed or rejected for its content, False when it must be kept."""
        try:
            await self._write(batch)
            return True
        except psycopg.OperationalError as exc:
            await self._lost(exc)
            return False
        except psycopg.Error as exc:
            self._reject(batch, exc)
            return True

    def _spool_held(self) -> None:
        if not self._held:
            return
        while self._held:
            columns = {table: SPECS[table].columns for table in self._held[0]}
            try:
                self.spool.append(self._held[0], columns)
            except SpoolFullError as exc:
                self.metrics.spool_full_alarms += 1
                log.critical("ALARM %s (%d rows held in memory)", exc, self.backlog_rows)
                break
            self._held.pop(0)
            self.metrics.spooled_batches += 1
        self._refresh_spool_metrics()

    async def _replay(self) -> None:
        for spooled in self.spool.batches():
            if not await self._write_or_keep(spooled.tables):
                break
            self.spool.remove(spooled)
            self.metrics.replayed_batches += 1
            log.info("replayed spooled batch %d (%d rows)", spooled.seq, spooled.rows)
        self._refresh_spool_metrics()

    def _refresh_spool_metrics(self) -> None:
        self.metrics.spool_depth = self.spool.depth
        self.metrics.spool_bytes = self.spool.bytes_used

    async def _write(self, batch: Batch) -> None:
        conn = self._conn
        assert conn is not None
        started = time.perf_counter()
        rows_total = inserted = 0
        for table in batch:
            # Outside the transaction: a rolled-back batch must not take the staging tables with it.
            await self._ensure_stage(conn, SPECS[table])
        async with conn.transaction():
            for table, rows in batch.items():
                spec = SPECS[table]
                cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
                copy_sql = sql.SQL("COPY {s} ({c}) FROM STDIN (FORMAT BINARY)").format(s=_stage(spec), c=cols)
                async with conn.cursor() as cur:
                    async with cur.copy(copy_sql) as copy:
                        copy.set_types(list(spec.types))
                        for row in rows:
                            await copy.write_row(row)
                    await cur.execute(_insert_statement(spec))
                    inserted += max(cur.rowcount, 0)
                rows_total += len(rows)
        if self.on_commit is not None:
            self.on_commit(batch, time.time())
        elapsed = time.perf_counter() - started
        m = self.metrics
        m.batches_written += 1
        m.rows_written += rows_total
        m.rows_inserted += inserted
        m.last_batch_rows = rows_total
        m.last_batch_latency_s = elapsed
        m.max_batch_latency_s = max(m.max_batch_latency_s, elapsed)

    async def _ensure_stage(self, conn: psycopg.AsyncConnection[tuple[object, ...]], spec: TableSpec) -> None:
        if spec.name in self._staged:
            return
        await conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(s=_stage(spec), t=sql.Identifier(spec.name))
        )
        self._staged.add(spec.name)

    def _reject(self, batch: Batch, exc: psycopg.Error) -> None:
        kept = Spool(self.spool.directory / "rejected", max_bytes=2**62).append(
            batch, {t: SPECS[t].columns for t in batch}
        )
        kept.with_suffix(".error").write_text(str(exc))
        self.metrics.rejected_batches += 1
        log.error("PostgreSQL rejected a batch (%s); kept in %s", str(exc).splitlines()[0], kept)

    # ---- connection management -----------------------------------------------------------------
    async def _connected(self) -> bool:
        if self._conn is not None and not self._conn.closed:
            return True
        now = time.monotonic()
        if now < self._next_connect and not self._stopping:
            return False
        try:
            self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            self._schedule_reconnect()
            log.warning("PostgreSQL unreachable (%s); spooling", str(exc).strip().splitlines()[0])
            return False
        self._staged.clear()
        if self.metrics.connected is False and self.metrics.batches_written:
            self.metrics.reconnects += 1
        self.metrics.connected = True
        self._backoff = 0.1
        return True

    def _schedule_reconnect(self) -> None:
        self.metrics.connected = False
        self._next_connect = time.monotonic() + self._backoff * (0.5 + random.random())
        self._backoff = min(self._backoff * 2, self.reconnect_max_s)

    async def _lost(self, exc: Exception) -> None:
        log.warning("lost PostgreSQL (%s); spooling until it returns", str(exc).strip().splitlines()[0])
        if self._conn is not None:
            try:
                await self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None
        self._schedule_reconnect()
