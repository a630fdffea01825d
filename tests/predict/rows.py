"""Writing synthetic rows straight into the tables, on a fixed time base."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

T_BASE = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MARKET_TABLES = ("market_1s", "mark_price", "metrics", "liquidations", "predictions")
BAR_COLUMNS = (
    "exchange",
    "symbol",
    "ts",
    "recv_ts",
    "close",
    "high",
    "low",
    "spread_bps",
    "imbalance",
    "gap",
)


def at(ms: int) -> datetime:
    """``T_BASE`` plus ``ms`` milliseconds."""
    return T_BASE + timedelta(milliseconds=ms)


def copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """COPY ``rows`` into ``table``."""
    query = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(query) as copy:
        for row in rows:
            copy.write_row(row)


def empty_tables(conn: psycopg.Connection[Any]) -> None:
    """Remove every market and prediction row (between Hypothesis examples)."""
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, MARKET_TABLES))))


def one(conn: psycopg.Connection[Any], query: str, params: Sequence[object] = ()) -> tuple[Any, ...]:
    """The single row ``query`` returns."""
    row: tuple[Any, ...] | None = conn.execute(query.encode(), params).fetchone()
    assert row is not None, query
    return row
