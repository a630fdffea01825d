"""Shared fixtures: a real PostgreSQL server for the whole session and a fresh database per test.

The server is `CQT_TEST_DB_URL` when set (any reachable PostgreSQL >= 14), otherwise an embedded
pgserver in a temporary directory, stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cqt.db import embedded
from cqt.db.connect import with_utc
from cqt.db.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Conninfo of the maintenance database of a real PostgreSQL server."""
    url = os.environ.get("CQT_TEST_DB_URL")
    if url:
        yield url
        return
    data_dir = tmp_path_factory.mktemp("pg")
    uri = embedded.start(data_dir)
    try:
        yield uri
    finally:
        embedded.stop(data_dir)


@contextlib.contextmanager
def new_database(pg_server: str) -> Iterator[str]:
    """Conninfo of a new, empty database on `pg_server`, dropped on exit."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # name is generated above, not user input
    try:
        yield make_conninfo(pg_server, dbname=name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def migrated_database(pg_server: str) -> Iterator[str]:
    """A new database with the schema applied (for fixtures wider than one test), dropped on exit; the
    conninfo pins TimeZone=UTC and a short connect timeout."""
    with new_database(pg_server) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
        yield with_utc(conninfo, 5)


@pytest.fixture
def fresh_db(pg_server: str) -> Iterator[str]:
    """Conninfo of a new, empty database, dropped after the test."""
    with new_database(pg_server) as conninfo:
        yield conninfo


@pytest.fixture
def db(fresh_db: str) -> str:
    """A fresh database with the schema applied; conninfo pins TimeZone=UTC and a short connect timeout."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
    return with_utc(fresh_db, 5)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A server of this test's own, so the test may stop and restart it."""
    data_dir = tmp_path / "pg"
    uri = embedded.start(data_dir)
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            migrate(conn)
        yield data_dir, with_utc(uri, 2)
    finally:
        embedded.stop(data_dir)
