"""Module-scoped databases for the export tests: one simulator bot run, one generated fill."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import migrated_database
from tests.export import synth
from tests.settings_env import bot_environ

SIM_SECONDS = 60
SIM_HORIZON = 10


@pytest.fixture(scope="module")
def sim_db(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database filled by one real bot run against the simulator (collectors, bars, predictions)."""
    with migrated_database(pg_server) as db:
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
    with migrated_database(pg_server) as db:
        yield db, synth.fill(db)
