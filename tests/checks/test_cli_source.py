"""`cqt check ... --source sim` reads the simulator's database (SIM_DB_URL), not the live one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.foundation.cli_runner import run_cqt

UNREACHABLE = "postgresql://cqt@127.0.0.1:1/cqt"


@pytest.mark.parametrize("command", [["check", "altdata"], ["check", "all"]])
def test_source_sim_checks_the_simulator_database(db: str, tmp_path: Path, command: list[str]) -> None:
    env = {"DB_URL": UNREACHABLE, "SIM_DB_URL": db}
    live = run_cqt(*command, "--window", "60", cwd=tmp_path, env=env)
    assert live.returncode == 2 and "database unreachable" in live.stdout, live.stdout
    sim = run_cqt(*command, "--window", "60", "--source", "sim", cwd=tmp_path, env=env)
    # an empty simulator database: the checks ran against it and failed, none of them could not run
    assert sim.returncode == 1, sim.stdout + sim.stderr
    assert "database unreachable" not in sim.stdout and "ERROR" not in sim.stdout, sim.stdout
