"""Read a source's rows in a time range with one binary ``COPY`` straight into numpy arrays.

The query selects ``ts`` and ``recv_ts`` (NOT NULL timestamptz) and every value column as
``coalesce(col::float8, 'NaN')``, so every row of the binary COPY stream has the same length and the whole
payload is one structured numpy view: no per-row Python work. NULL therefore reads as NaN; the stored data
holds no NaN (the bar writer stores NaN as NULL), so NaN means NULL on the way out. Booleans read as 0/1.
Times stay in epoch microseconds, so ``recv_ts <= t0`` is decided without rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

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
        "SELECT ts, recv_ts, {cols} FROM {table} WHERE {where}"
        " AND ts > %(since)s AND ts <= %(until)s ORDER BY ts"
    ).format(cols=cols, table=sql.Identifier(source.table), where=where)


def read_rows(conn: psycopg.Connection[Any], source: Source, since: datetime, until: datetime) -> Rows:
    """Rows of ``source`` with ``ts`` in ``(since, until]``, sorted by ``ts``."""
    names = source.fetched()
    query = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select_sql(source))
    params = {**source.sql_filters(), "since": since, "until": until}
    buf = bytearray()
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        for block in copy:
            buf += block
    return parse_fixed(buf, len(names), names)


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
    return Rows(
        data["ts"].astype(np.int64) + PG_EPOCH_US,
        data["recv"].astype(np.int64) + PG_EPOCH_US,
        {name: data[f"v{i}"].astype(np.float64) for i, name in enumerate(names)},
    )
