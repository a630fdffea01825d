"""Module-scoped databases for the export tests: one simulator bot run, one generated fill."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cqt.db.connect import with_utc
from cqt.db.migrate import migrate
from tests.export import synth
from tests.settings_env import bot_environ

SIM_SECONDS = 60
SIM_HORIZON = 10


def _module_db(pg_server: str) -> Iterator[str]:
    name = f"x_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # generated name, not user input
    conninfo = make_conninfo(pg_server, dbname=name)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
        yield with_utc(conninfo, 5)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def sim_db(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database filled by one real bot run against the simulator (collectors, bars, predictions)."""
    for db in _module_db(pg_server):
        tmp = tmp_path_factory.mktemp("bot")
        run = subprocess.run(
            [sys.executable, "-m", "cqt.bot", "--source", "sim", "--duration", str(SIM_SECONDS),
             "--horizon", str(SIM_HORIZON)],
            cwd=tmp, env=bot_environ(tmp, db), text=True, capture_output=True, timeout=180,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        yield db


@pytest.fixture(scope="module")
def synth_db(pg_server: str) -> Iterator[tuple[str, synth.Synth]]:
    """A database filled with generated rows (:mod:`tests.export.synth`)."""
    for db in _module_db(pg_server):
        yield db, synth.fill(db)
