"""One read-only connection pool per dashboard process, and the single function every query runs through.

The pool is a Streamlit resource (created once, shared by every browser session); query results are cached
for a couple of seconds so several open tabs refreshing together cost one round trip. Failures become two
exceptions the pages turn into explanations: :class:`Unavailable` (no database, bad settings) and
:class:`SchemaMissing` (a database without the cqt tables).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, LiteralString

import polars as pl
import psycopg
import streamlit as st
from psycopg_pool import ConnectionPool, PoolTimeout

from cqt.config import SOURCES, ConfigError, load_settings
from cqt.db.connect import resolve
from cqt.db.embedded import EmbeddedServerError

RESULT_TTL_S = 2.0
STATEMENT_TIMEOUT_MS = 15_000


class Unavailable(RuntimeError):
    """The database cannot be reached (or not even named); the message says which and why, never a password."""


class SchemaMissing(RuntimeError):
    """The database answers but lacks a cqt table: it was never migrated (`cqt db up`) or is older."""


@dataclass(frozen=True)
class Database:
    pool: ConnectionPool[psycopg.Connection[Any]]
    conninfo: str
    display: str
    timeout_s: float


def source() -> str:
    """Whose database to read: `cqt dashboard --source` passes it after `--` to the script's own argv."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source", choices=SOURCES, default="live")
    return str(parser.parse_known_args(sys.argv[1:])[0].source)


def _session(conn: psycopg.Connection[Any]) -> None:
    # The dashboard must never change data, and a slow query must not pin a pool connection forever.
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(STATEMENT_TIMEOUT_MS),))


@st.cache_resource(show_spinner=False)
def database() -> Database:
    """The process-wide pool; an exception is not cached, so the next refresh tries again."""
    try:
        settings = load_settings().for_source(source())
        target = resolve(settings)
    except ConfigError as exc:
        raise Unavailable(f"configuration error: {exc}") from None
    except EmbeddedServerError as exc:
        raise Unavailable(f"the embedded PostgreSQL server could not start: {exc}") from None
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        target.conninfo,
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True},
        configure=_session,
        timeout=float(settings.db_connect_timeout_s),
        name="cqt-dashboard",
        open=True,
    )
    return Database(pool, target.conninfo, target.display, float(settings.db_connect_timeout_s))


def target_display() -> str:
    """Which database the dashboard reads, password hidden."""
    return database().display


@st.cache_data(ttl=RESULT_TTL_S, show_spinner=False)
def fetch(query: LiteralString, params: Mapping[str, object] | None = None) -> pl.DataFrame:
    """Run one SELECT and return its rows as a DataFrame (column names from the cursor)."""
    db = database()
    try:
        with db.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            names = [c.name for c in cur.description or []]
            rows = cur.fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise SchemaMissing(_first_line(exc)) from None
    except PoolTimeout:
        raise Unavailable(f"{db.display}: {_why_unreachable(db)}") from None
    except psycopg.OperationalError as exc:
        raise Unavailable(f"{db.display}: {_first_line(exc)}") from None
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def _why_unreachable(db: Database) -> str:
    # The pool only reports a timeout; one direct attempt gives libpq's reason (host and port, no password).
    try:
        psycopg.connect(db.conninfo, connect_timeout=max(1, int(db.timeout_s))).close()
    except psycopg.Error as exc:
        return _first_line(exc)
    return f"no free connection within {db.timeout_s:g} s"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
