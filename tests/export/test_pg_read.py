"""The export's COPY reader on a real PostgreSQL: the same bytes as psycopg's own COPY, errors raised as
psycopg errors, and the connection idle again after a server error, an interrupt or a killed backend; rows
come back sorted by ``ts`` whatever the heap order."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import FrameType

import numpy as np
import psycopg
import pytest

from cqt.export.pg_read import copy_out, read_rows
from cqt.export.spec import mark_source

ROWS = (
    "COPY (SELECT i, i * 0.5::float8, CASE WHEN i % 7 = 0 THEN NULL ELSE 'x' || i END,"
    " '2026-01-01'::timestamptz + i * interval '1 ms' FROM generate_series(1, 20000) i) TO STDOUT (FORMAT {fmt})"
)
# About 1 s of rows trickling out: a COPY that is still streaming when the fault hits.
SLOW = "COPY (SELECT i, pg_sleep(0.001) FROM generate_series(1, 1000) i) TO STDOUT"


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db, autocommit=True) as c:
        yield c


def idle(c: psycopg.Connection[tuple[object, ...]]) -> bool:
    return c.execute("SELECT 41 + 1").fetchone() == (42,)


@pytest.mark.parametrize("fmt", ["binary", "text"])
def test_same_bytes_as_psycopg_copy(conn: psycopg.Connection[tuple[object, ...]], fmt: str) -> None:
    query = ROWS.format(fmt=fmt)
    expected = bytearray()
    with conn.cursor() as cur, cur.copy(query) as copy:
        for block in copy:
            expected += block
    got = copy_out(conn, query.encode())
    assert got == expected and len(got) > 20000 * 10
    assert idle(conn)


def test_error_before_any_row(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with pytest.raises(psycopg.errors.UndefinedColumn, match="no_such_column"):
        copy_out(conn, b"COPY (SELECT no_such_column FROM mark_price) TO STDOUT (FORMAT binary)")
    assert idle(conn)


def test_error_after_rows_were_sent(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero):
        copy_out(conn, b"COPY (SELECT 1 / (15000 - i) FROM generate_series(1, 20000) i) TO STDOUT")
    assert idle(conn)


def test_interrupt_mid_copy_leaves_the_connection_idle(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(Interrupted):
            copy_out(conn, SLOW.encode())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert idle(conn)


def test_killed_backend_raises_instead_of_hanging(
    db: str, conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    pid = conn.info.backend_pid

    def kill() -> None:
        time.sleep(0.3)
        with psycopg.connect(db, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    killer = threading.Thread(target=kill)
    killer.start()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        copy_out(conn, SLOW.encode())
    killer.join()
    assert time.monotonic() - started < 5


def test_rows_come_back_sorted_whatever_the_heap_order(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = list(range(600))[::-1]  # inserted newest first: the heap (and a scan) is in descending ts
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO mark_price (symbol, ts, recv_ts, mark_price, index_price) VALUES ('BTCUSDT', %s, %s, %s, %s)",
            [(base + timedelta(seconds=s), base + timedelta(seconds=s, milliseconds=250), 100.0 + s,
              None if s % 10 == 0 else 90.0 + s) for s in seconds],
        )  # fmt: skip
    # a sequential scan (the plan PostgreSQL picks for long ranges) returns the heap order
    conn.execute("SET enable_indexscan = off")
    conn.execute("SET enable_bitmapscan = off")
    rows = read_rows(conn, mark_source("BTCUSDT"), base, base + timedelta(seconds=599))
    epoch_us = int(base.timestamp()) * 1_000_000
    expected_s = np.arange(1, 600)
    assert ((rows.ts - epoch_us) // 1_000_000 == expected_s).all()
    assert ((rows.recv_ts - rows.ts) == 250_000).all()
    assert (rows.values["mark_price"] == 100.0 + expected_s).all()
    index = rows.values["index_price"]
    assert np.isnan(index[expected_s % 10 == 0]).all()
    assert (index[expected_s % 10 != 0] == 90.0 + expected_s[expected_s % 10 != 0]).all()
