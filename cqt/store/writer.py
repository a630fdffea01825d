"""The storage writer: batched binary COPY into staging tables, then idempotent INSERTs.

Collectors call `put()` (non-blocking); the flusher (`run()`, supervised by the bot like a collector, or
in a task of its own after `start()`) flushes when a batch reaches `max_batch_rows` or `max_latency_s`
after the first buffered row, whichever comes first, so write latency is bounded.
Each flush is one transaction: for every table, `COPY stage FROM STDIN (FORMAT BINARY)` then
`INSERT ... SELECT ... ON CONFLICT (natural key) DO NOTHING` (bars: keep the highest revision).

A row whose natural key is already stored with another payload (`TableSpec.payload`) is not stored;
that is counted per table, logged (at most once a minute per table, with a sample key and the
differing columns) and recorded in `key_conflicts` with both versions. The check costs one statement,
and only for a table whose INSERT inserted fewer rows than were staged.

When PostgreSQL is unreachable, batches go to the on-disk `Spool` and are replayed in order once it is
back; while anything is spooled, new batches queue behind it so order is kept. If the spool cannot take a
batch (full, disk full, not writable, not a directory) the batch stays in memory and every drain retries;
the first failure is logged at once as an ALARM (then once a minute while it lasts), counted, reported to
`on_event` and kept in `metrics.spool_error` until a spool write (or a probe, once nothing is held)
succeeds again. A spool that cannot be read or emptied is bypassed while PostgreSQL is up, so new rows
are still written. Past `max_held_rows` in memory the writer keeps everything and raises one more ALARM
(and event): it never drops rows, it says that memory grows.

A batch that fails for any other reason than a lost connection (PostgreSQL rejects a value, binary COPY
cannot encode one, e.g. an id >= 2^63) never stops the writer: each table is retried alone, then the
failing rows are halved until the bad ones stand alone; those are moved to `rejected/` beside the spool
with the error, counted and logged, and the good rows of the same batch are stored. The normal path
pays nothing for this: the retries happen only after a failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cqt.store.spool import Batch, Row, Spool, SpoolFullError
from cqt.store.tables import SPECS, TableSpec

log = logging.getLogger(__name__)

# How long flush() waits by default: a drain after an outage replays the whole spool before it returns.
FLUSH_TIMEOUT_S = 120.0
# Halvings spent per failed batch to isolate its bad rows; past that, failing pieces are kept aside whole
# (still on disk in rejected/), so a batch of nothing but bad rows costs a bounded number of retries.
ISOLATE_SPLITS = 64
CONFLICT_LOG_EVERY_S = 60.0
SPOOL_ALARM_EVERY_S = 60.0  # a failing spool is retried every drain; its ALARM is repeated this often
# Rows held in memory (spool refusing, PostgreSQL away) past which the writer alarms: a few hundred MB.
MAX_HELD_ROWS = 1_000_000


class FlushTimeout(TimeoutError):
    """flush() ran out of time; the message says what it waited for. The rows stay queued."""


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
    spool_write_errors: int = 0  # spool operations that failed with an OSError (disk full, permissions, ...)
    spool_error: str | None = None  # the current spool failure, one line; None while the spool works
    backlog_alarms: int = 0  # times the rows held in memory went over max_held_rows
    rejected_batches: int = 0
    rejected_rows: int = 0
    # table -> rows not stored because their natural key was stored with another payload
    key_conflicts: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    connected: bool = False


@dataclass(frozen=True)
class KeyConflict:
    """What one batch met in one table: differing rows, and one of them as a sample."""

    table: str
    rows: int
    key: str
    differing: list[str]
    stored: dict[str, Any]
    incoming: dict[str, Any]

    @classmethod
    def from_row(cls, table: str, row: tuple[Any, ...]) -> KeyConflict:
        """From the (rows, key, differing, stored, incoming) row of the conflict statement."""
        rows, key, differing, stored, incoming = row
        return cls(table, int(rows), str(key), list(differing), dict(stored), dict(incoming))

    def sample(self) -> str:
        """``key: col stored -> incoming, ...``."""
        changes = ", ".join(f"{c} {self.stored.get(c)!r} -> {self.incoming.get(c)!r}" for c in self.differing)
        return f"{self.key}: {changes}"


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


def _conflict_statement(spec: TableSpec) -> sql.Composed:
    """Record the staged rows whose key is stored with another payload; return (rows, one sample)."""

    def listed(parts: list[sql.Composable]) -> sql.Composed:
        return sql.SQL(", ").join(parts)

    def as_json(alias: str) -> sql.Composed:
        return sql.SQL("jsonb_build_object({})").format(
            listed([sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(alias, c)) for c in spec.columns])
        )

    key_text = sql.SQL("concat_ws(' ', {})").format(
        listed([sql.SQL("{} || {}").format(sql.Literal(f"{c}="), sql.Identifier("s", c)) for c in spec.key])
    )
    differing = sql.SQL("array_remove(ARRAY[{}]::text[], NULL)").format(
        listed(
            [
                sql.SQL("CASE WHEN {} IS DISTINCT FROM {} THEN {} END").format(
                    sql.Identifier("s", c), sql.Identifier("t", c), sql.Literal(c)
                )
                for c in spec.payload
            ]
        )
    )
    on = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("t", c), sql.Identifier("s", c)) for c in spec.key
    )
    # DISTINCT ON: one row per key, since ON CONFLICT DO UPDATE may not meet the same key twice.
    return sql.SQL(
        "WITH c AS (SELECT {key} AS key, {diff} AS differing, {stored} AS stored, {incoming} AS incoming"
        " FROM {s} s JOIN {t} t ON {on} WHERE ROW({sp}) IS DISTINCT FROM ROW({tp})),"
        " k AS (SELECT DISTINCT ON (key) key, count(*) OVER (PARTITION BY key) AS n, differing, stored,"
        " incoming FROM c ORDER BY key),"
        " up AS (INSERT INTO key_conflicts AS kc (table_name, key, conflicts, differing, stored, incoming)"
        " SELECT {name}, key, n, differing, stored, incoming FROM k ON CONFLICT (table_name, key) DO UPDATE"
        " SET last_seen = now(), conflicts = kc.conflicts + EXCLUDED.conflicts,"
        " differing = EXCLUDED.differing, stored = EXCLUDED.stored, incoming = EXCLUDED.incoming)"
        " SELECT (SELECT sum(n) FROM k)::int8, key, differing, stored, incoming FROM k LIMIT 1"
    ).format(
        key=key_text,
        diff=differing,
        stored=as_json("t"),
        incoming=as_json("s"),
        s=_stage(spec),
        t=sql.Identifier(spec.name),
        on=on,
        sp=listed([sql.Identifier("s", c) for c in spec.payload]),
        tp=listed([sql.Identifier("t", c) for c in spec.payload]),
        name=sql.Literal(spec.name),
    )


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
        max_held_rows: int = MAX_HELD_ROWS,
        on_commit: Callable[[Batch, float], None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        # Called with each committed batch and the wall time (time.time()) right after its commit, so
        # benchmarks and monitors can measure event->commit latency; it runs on the writer task: keep it
        # cheap and do not raise.
        self.on_commit = on_commit
        # Called with (kind, detail) when the spool starts failing (`spool_failing`), works again
        # (`spool_recovered`) or the memory backlog passes its bound (`backlog_over_bound`): the bot records
        # these in bot_events. Same rules as on_commit.
        self.on_event = on_event
        self.max_held_rows = max_held_rows
        self.spool = spool
        self.max_batch_rows = max_batch_rows
        self.max_latency_s = max_latency_s
        self.reconnect_max_s = reconnect_max_s
        self.metrics = WriterMetrics(spool_depth=spool.depth, spool_bytes=spool.bytes_used)
        self._buffer: dict[str, list[Row]] = defaultdict(list)
        self._buffered = 0
        self._held: list[Batch] = []  # batches the spool could not take, oldest first
        self._spool_alarmed_at = 0.0
        self._over_bound = False
        # Spooled files committed but not deleted (a read-only spool): not written again at each replay.
        self._committed: set[Path] = set()
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._staged: set[str] = set()
        self._next_connect = 0.0
        self._backoff = 0.1
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running = False  # run() is flushing (in start()'s task or under a supervisor)
        self._stopping = False
        # One drain at a time: a run() restarted after a crash must not overlap an inline flush().
        self._drain_lock = asyncio.Lock()
        self._flushed = asyncio.Condition()
        # Drains the background task has started / finished: flush() waits for one that starts after it.
        self._drains_started = 0
        self._drains_done = 0
        self._conflicts_logged_at: dict[str, float] = {}
        self._conflicts_unlogged: dict[str, int] = defaultdict(int)

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
        return self._buffered + sum(map(_rows, self._held))

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the flusher in a task of its own (replays any spool left by an earlier run first); the bot
        runs `run()` under its supervisor instead."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="store-writer")

    async def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Write everything buffered now and wait until it is committed, spooled or kept aside.

        Raises `FlushTimeout` (rows per table still queued, spool depth, whether PostgreSQL is
        connected) when that takes longer than `timeout_s`; the rows stay queued and the writer goes on.
        Without a running flusher the caller drains inline, with no deadline.
        """
        if not self._running:
            await self._drain()
            return
        wanted = self._drains_started + 1  # a drain already running may have taken the buffer before now
        self._wake.set()
        async with self._flushed:
            try:
                await asyncio.wait_for(self._flushed.wait_for(lambda: self._drains_done >= wanted), timeout_s)
            except TimeoutError:
                raise FlushTimeout(self._waiting_for(timeout_s)) from None

    def _waiting_for(self, timeout_s: float) -> str:
        per_table: dict[str, int] = defaultdict(int)
        for batch in (self._buffer, *self._held):
            for table, rows in batch.items():
                per_table[table] += len(rows)
        queued = ", ".join(f"{t} {n}" for t, n in sorted(per_table.items()) if n) or "none"
        db = "connected" if self.metrics.connected else "not connected (retrying)"
        return (
            f"storage writer flush timed out after {timeout_s:g} s waiting for {self.backlog_rows} rows in"
            f" memory (per table: {queued}) and {self.metrics.spool_depth} spooled batch(es); PostgreSQL {db}"
        )

    def request_stop(self) -> None:
        """Ask `run()` to return once everything put so far is written, spooled or kept aside."""
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """Flush, replay what can be replayed, close the connection (after a supervised `run()` returned,
        or instead of it)."""
        self.request_stop()
        if self._task is not None:
            await self._task
            self._task = None
        else:  # not started, or its supervised run() has returned: still write what was put
            await self._drain()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.spool.release()

    async def stop_now(self) -> int:
        """Spool every row still in memory without waiting for PostgreSQL, then close as `stop()` does: the
        end of a shutdown past its deadline, once no drain runs (docs/design.md §5.7). Returns the rows
        spooled; rows the spool refuses stay in memory, alarmed, and end with the process."""
        batch = self._take_buffer()
        if batch:
            self._held.append(batch)
        before = self.backlog_rows
        self._spool_held()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.spool.release()
        return before - self.backlog_rows

    # ---- the flusher ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Flush until `request_stop()`. The queued rows live in the writer, not in this coroutine: a run
        cancelled mid-batch keeps that batch queued (it is removed only once committed or spooled), so a
        restarted run goes on with the whole backlog."""
        self._running = True
        try:
            await self._flush_loop()
        finally:
            self._running = False

    async def _flush_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.max_latency_s)
            except TimeoutError:
                pass
            self._wake.clear()
            self._drains_started += 1
            try:
                await self._drain()
            except Exception:
                # e.g. a failing spool disk: the rows stay held, the next drain retries, the writer lives on
                log.exception("storage writer drain failed; retrying")
            self._drains_done = self._drains_started
            async with self._flushed:
                self._flushed.notify_all()
            # rows put while that drain was running (e.g. the final bars at shutdown) still go out
            if self._stopping and not self._buffered:
                return

    async def _drain(self) -> None:
        async with self._drain_lock:
            await self._drain_once()

    async def _drain_once(self) -> None:
        batch = self._take_buffer()
        if batch:
            self._held.append(batch)
        spooled = self._spool_depth()
        if self._held or spooled:
            # Spooled batches are older than held ones (a batch is held only when the spool refused it), so
            # they go first; a spool that cannot be read or emptied is passed by, not waited for.
            if await self._connected() and (not spooled or await self._replay()):
                while self._held:
                    if not await self._write_or_keep(self._held[0]):
                        break
                    self._held.pop(0)
            self._spool_held()
        if self.metrics.spool_error is not None and not self._held:
            self._probe_spool()
        self._check_bound()

    def _take_buffer(self) -> Batch:
        batch = {table: rows for table, rows in self._buffer.items() if rows}
        self._buffer = defaultdict(list)
        self._buffered = 0
        return batch

    async def _write_or_keep(self, batch: Batch) -> bool:
        """Write `batch`; True when its rows are committed or kept aside, False when it must be kept."""
        try:
            await self._write(batch)
            return True
        except psycopg.OperationalError as exc:
            await self._lost(exc)
            return False
        except Exception as exc:
            return await self._isolate(batch, exc)

    async def _isolate(self, batch: Batch, exc: Exception) -> bool:
        """Store what can be stored of a failed batch, keep the failing rows aside; False: connection lost.

        Each table is retried alone, a failing table's rows are halved until the bad rows stand alone
        (one bad row in n costs about 2·log2(n) transactions). A connection lost meanwhile keeps the
        whole batch for later: the parts already stored are absorbed by their natural keys then.
        """
        log.warning(
            "a batch of %d rows failed (%s); retrying its parts to keep the bad rows aside",
            _rows(batch),
            _first_line(exc),
        )
        splits = ISOLATE_SPLITS
        todo: list[tuple[Batch, Exception | None]] = [(batch, exc)]  # a stack; known error or None
        while todo:
            piece, error = todo.pop()
            if error is None:
                try:
                    await self._write(piece)
                    continue
                except psycopg.OperationalError as lost:
                    await self._lost(lost)
                    return False
                except Exception as failed:
                    error = failed
            if len(piece) > 1:
                todo += [({table: rows}, None) for table, rows in reversed(piece.items())]
                continue
            ((table, rows),) = piece.items()
            if len(rows) > 1 and splits > 0:
                splits -= 1
                half = len(rows) // 2
                todo += [({table: rows[half:]}, None), ({table: rows[:half]}, None)]
            else:
                self._reject(piece, error)
        return True

    def _spool_held(self) -> None:
        if not self._held:
            return
        while self._held:
            columns = {table: SPECS[table].columns for table in self._held[0]}
            try:
                self.spool.append(self._held[0], columns)
            except (SpoolFullError, OSError) as exc:
                self._spool_failed(exc)
                break
            self._held.pop(0)
            self.metrics.spooled_batches += 1
            self._spool_recovered()
        self._refresh_spool_metrics()

    async def _replay(self) -> bool:
        """Replay the spool oldest first; False when PostgreSQL was lost meanwhile. A spool that cannot be
        read or emptied counts as replayed (True): it must not keep the held batches from PostgreSQL."""
        try:
            for spooled in self.spool.batches():
                if spooled.path not in self._committed:
                    if not await self._write_or_keep(spooled.tables):
                        return False
                    self._committed.add(spooled.path)
                    self.metrics.replayed_batches += 1
                    log.info("replayed spooled batch %d (%d rows)", spooled.seq, spooled.rows)
                try:
                    self.spool.remove(spooled)
                except OSError as exc:
                    self._spool_failed(exc)
                    continue
                self._committed.discard(spooled.path)
        except OSError as exc:  # the directory itself cannot be listed or read
            self._spool_failed(exc)
        finally:
            self._refresh_spool_metrics()
        return True

    def _spool_depth(self) -> int:
        """Batches in the spool; 0 when it cannot be listed (recorded as a spool failure)."""
        try:
            return self.spool.depth
        except OSError as exc:
            self._spool_failed(exc)
            return 0

    def _refresh_spool_metrics(self) -> None:
        try:
            self.metrics.spool_depth = self.spool.depth
            self.metrics.spool_bytes = self.spool.bytes_used
        except OSError as exc:
            self._spool_failed(exc)

    def _probe_spool(self) -> None:
        try:
            self.spool.probe()
        except OSError as exc:
            self._spool_failed(exc)
            return
        self._spool_recovered()

    def _spool_failed(self, exc: Exception) -> None:
        m = self.metrics
        if isinstance(exc, SpoolFullError):
            m.spool_full_alarms += 1
        else:
            m.spool_write_errors += 1
        first = m.spool_error is None
        m.spool_error = _first_line(exc)
        now = time.monotonic()
        if first or now - self._spool_alarmed_at >= SPOOL_ALARM_EVERY_S:
            self._spool_alarmed_at = now
            log.critical(
                "ALARM the spool cannot take batches (%s); %d rows held in memory, retried at every flush;"
                " PostgreSQL %s",
                m.spool_error,
                self.backlog_rows,
                "connected" if m.connected else "not connected",
            )
        if first:
            self._event("spool_failing", m.spool_error)

    def _spool_recovered(self) -> None:
        error = self.metrics.spool_error
        if error is None:
            return
        self.metrics.spool_error = None
        log.warning("the spool %s works again (it failed with: %s)", self.spool.directory, error)
        self._event("spool_recovered", f"after: {error}")

    def _check_bound(self) -> None:
        held = self.backlog_rows
        if held <= self.max_held_rows:
            if self._over_bound:
                self._over_bound = False
                log.warning("rows held in memory back under the bound: %d <= %d", held, self.max_held_rows)
            return
        if self._over_bound:
            return
        self._over_bound = True
        self.metrics.backlog_alarms += 1
        detail = (
            f"{held} rows held in memory, over the bound of {self.max_held_rows}: nothing is dropped, memory"
            f" grows until the spool or PostgreSQL takes them (spool: {self.metrics.spool_error or 'ok'};"
            f" PostgreSQL {'connected' if self.metrics.connected else 'not connected'})"
        )
        log.critical("ALARM %s", detail)
        self._event("backlog_over_bound", detail)

    def _event(self, kind: str, detail: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, detail)
        except Exception:  # a monitor's failure must not stop the writing
            log.exception("the writer's on_event hook failed")

    async def _write(self, batch: Batch) -> None:
        conn = self._conn
        assert conn is not None
        started = time.perf_counter()
        rows_total = inserted = 0
        conflicts: list[KeyConflict] = []
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
                    new = max(cur.rowcount, 0)
                    if spec.payload and new < len(rows):
                        await cur.execute(_conflict_statement(spec))
                        found = await cur.fetchone()
                        if found is not None:
                            conflicts.append(KeyConflict.from_row(table, found))
                    inserted += new
                rows_total += len(rows)
        if self.on_commit is not None:
            try:
                self.on_commit(batch, time.time())
            except Exception:  # the batch is committed: a failing hook must not have it written again
                log.exception("the writer's on_commit hook failed")
        for conflict in conflicts:
            self._note_conflict(conflict)
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

    def _note_conflict(self, conflict: KeyConflict) -> None:
        table = conflict.table
        self.metrics.key_conflicts[table] = self.metrics.key_conflicts.get(table, 0) + conflict.rows
        self._conflicts_unlogged[table] += conflict.rows
        now = time.monotonic()
        if now - self._conflicts_logged_at.get(table, -CONFLICT_LOG_EVERY_S) < CONFLICT_LOG_EVERY_S:
            return
        self._conflicts_logged_at[table] = now
        log.warning(
            "%s: %d row(s) not stored since the last report: their natural key is stored with another"
            " payload (recorded in key_conflicts); e.g. %s",
            table,
            self._conflicts_unlogged.pop(table),
            conflict.sample(),
        )

    def _reject(self, batch: Batch, exc: Exception) -> None:
        self.metrics.rejected_batches += 1
        self.metrics.rejected_rows += _rows(batch)
        try:
            kept = self._keep_aside(batch, f"{type(exc).__name__}: {exc}")
        except OSError as failed:
            # PostgreSQL refuses these rows and the disk cannot keep them: the log is their last record, and
            # waiting would block every batch behind them.
            self.metrics.spool_write_errors += 1
            table, rows = next(iter(batch.items()))
            log.critical(
                "ALARM a batch of %d rows PostgreSQL rejected (%s) cannot be kept aside (%s); dropped, e.g. %s %r",
                _rows(batch),
                _first_line(exc),
                _first_line(failed),
                table,
                rows[0],
            )
            return
        log.error(
            "a batch of %d rows was rejected (%s); kept in %s",
            _rows(batch),
            _first_line(exc),
            kept,
        )

    def _keep_aside(self, batch: Batch, error: str) -> Path:
        rejected = Spool(self.spool.rejected_dir, max_bytes=2**62)
        columns = {t: SPECS[t].columns for t in batch}
        try:
            kept = rejected.append(batch, columns)
        except (TypeError, ValueError):  # a value JSON cannot hold, likely the cause of the failure itself
            kept = rejected.append(
                {t: [tuple(map(repr, row)) for row in rows] for t, rows in batch.items()}, columns
            )
            error += "\n(values stored as Python repr: the batch held a value the spool cannot encode)"
        kept.with_suffix(".error").write_text(error + "\n")
        return kept

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
        log.warning("lost PostgreSQL (%s); spooling until it returns", _first_line(exc))
        if self._conn is not None:
            try:
                await self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None
        self._schedule_reconnect()


def _rows(batch: Batch) -> int:
    return sum(map(len, batch.values()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
