"""Read a source's rows in a time range with one binary ``COPY`` straight into numpy arrays.

The query selects ``ts`` and ``recv_ts`` (NOT NULL timestamptz) and every value column as
``coalesce(col::float8, 'NaN')``, so every row of the binary COPY stream has the same length and the whole
payload is one structured numpy view: no per-row Python work. NULL therefore reads as NaN; the stored data
holds no NaN (the bar writer stores NaN as NULL), so NaN means NULL on the way out. Booleans read as 0/1.
Times stay in epoch microseconds, so ``recv_ts <= t0`` is decided without rounding.

The SELECT has no ``ORDER BY``: PostgreSQL then scans the heap (bitmap or sequential scan) instead of
sorting a day of rows on disk; rows arrive almost always in ``ts`` order (the collectors append) and are
sorted here when they do not.
"""

from __future__ import annotations

import select
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import pq, sql

from cqt.export.spec import BOOLEAN_VALUES, Source

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = len(_SIGNATURE) + 8  # flags (int32) + header extension length (int32, 0)
_TRAILER = 2  # int16 -1
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


@dataclass(frozen=True)
class Rows:
    """Rows of one source: ``ts``/``recv_ts`` in epoch µs and one float64 array per fetched column."""

    ts: I64
    recv_ts: I64
    values: dict[str, F64]

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, mask: NDArray[np.bool_]) -> Rows:
        return Rows(self.ts[mask], self.recv_ts[mask], {k: v[mask] for k, v in self.values.items()})


def select_sql(source: Source) -> sql.Composed:
    """The SELECT behind :func:`read_rows` (also the raw ``COPY ... TO`` ceiling of the benchmark)."""
    cols = sql.SQL(", ").join(
        sql.SQL("coalesce({}{}::float8, 'NaN')").format(
            sql.Identifier(c), sql.SQL("::int" if c in BOOLEAN_VALUES else "")
        )
        for c in source.fetched()
    )
    where = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in source.sql_filters()
    )
    return sql.SQL(
        "SELECT ts, recv_ts, {cols} FROM {table} WHERE {where} AND ts > %(since)s AND ts <= %(until)s"
    ).format(cols=cols, table=sql.Identifier(source.table), where=where)


def read_rows(conn: psycopg.Connection[Any], source: Source, since: datetime, until: datetime) -> Rows:
    """Rows of ``source`` with ``ts`` in ``(since, until]``, sorted by ``ts``."""
    names = source.fetched()
    params = {**source.sql_filters(), "since": since, "until": until}
    query = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select_sql(source))
    bound = psycopg.ClientCursor(conn).mogrify(query, params)
    return parse_fixed(copy_out(conn, bound.encode()), len(names), names)


def copy_out(conn: psycopg.Connection[Any], query: bytes) -> bytearray:
    """The whole payload of ``COPY ... TO STDOUT``, read with the libpq calls of :mod:`psycopg.pq`.

    PostgreSQL sends one message per row; psycopg's ``Copy`` iterator resumes a generator and waits per
    message, this loop drains libpq's buffer with one call per row and waits on the socket only when it
    is empty (about 2.5x less client time per row, which on 2 cores is time taken from the server).
    ``conn`` must be idle; it is idle again on return, also after an error or an interrupt.
    """
    pgconn = conn.pgconn
    pgconn.send_query(query)
    try:
        _check(_next_result(pgconn), pq.ExecStatus.COPY_OUT)
        buf = bytearray()
        while (data := _copy_data(pgconn)) is not None:
            buf += data
        _check(_next_result(pgconn), pq.ExecStatus.COMMAND_OK)
        return buf
    finally:
        _drain(pgconn)


def _wait(pgconn: pq.abc.PGconn) -> None:
    select.select([pgconn.socket], [], [])
    pgconn.consume_input()


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    while pgconn.is_busy():
        _wait(pgconn)
    return pgconn.get_result()


def _copy_data(pgconn: pq.abc.PGconn) -> memoryview | None:
    """The next row of a COPY OUT, ``None`` at its end."""
    while True:
        n, data = pgconn.get_copy_data(1)
        if n > 0:
            return data
        if n == -1:
            return None
        if n < -1:
            raise psycopg.OperationalError(pgconn.get_error_message())
        _wait(pgconn)


def _check(result: pq.abc.PGresult | None, status: pq.ExecStatus) -> None:
    if result is not None and result.status == status:
        return
    if result is None:
        raise psycopg.OperationalError(f"COPY ended without its {status.name} result")
    message = (result.error_message or b"").decode(errors="replace").strip()
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    error = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.DatabaseError
    raise error(message or f"COPY failed with status {pq.ExecStatus(result.status).name}")


def _drain(pgconn: pq.abc.PGconn) -> None:
    """Read what is left of the command (rows of an interrupted COPY included) until the connection idles."""
    while pgconn.status == pq.ConnStatus.OK and (result := _next_result(pgconn)) is not None:
        if result.status == pq.ExecStatus.COPY_OUT:
            while _copy_data(pgconn) is not None:
                pass


def parse_fixed(buf: bytes | bytearray, n_values: int, names: tuple[str, ...]) -> Rows:
    """Parse a binary COPY payload of (timestamptz, timestamptz, n_values x float8) rows, none NULL."""
    if bytes(buf[: len(_SIGNATURE)]) != _SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    row = np.dtype(
        [("n", ">i2"), ("l_ts", ">i4"), ("ts", ">i8"), ("l_recv", ">i4"), ("recv", ">i8")]
        + [(f, t) for i in range(n_values) for f, t in ((f"l{i}", ">i4"), (f"v{i}", ">f8"))]
    )
    body = memoryview(buf)[_HEADER : len(buf) - _TRAILER]
    if len(body) % row.itemsize:
        raise ValueError(f"binary COPY payload of {len(body)} bytes is not a whole number of rows")
    data = np.frombuffer(body, dtype=row)
    if len(data) and not (data["n"] == n_values + 2).all():
        raise ValueError("binary COPY rows with an unexpected field count")
    ts = data["ts"].astype(np.int64)
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        order = np.argsort(ts, kind="stable")
        data, ts = data[order], ts[order]
    return Rows(
        ts + PG_EPOCH_US,
        data["recv"].astype(np.int64) + PG_EPOCH_US,
        {name: data[f"v{i}"].astype(np.float64) for i, name in enumerate(names)},
    )
