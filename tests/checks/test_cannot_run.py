"""Without a database every check exits 2 and says how to fix it: an unreachable DB_URL, the embedded
server not running (a check never starts it), a database behind on migrations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cqt.cli import app
from tests.conftest import REPO_ROOT
from tests.settings_env import SETTING_NAMES, clean_environ

CHECK_NAMES = ("altdata", "feature", "leak", "coinglass")
UNREACHABLE = "postgresql://cqt@127.0.0.1:1/cqt"


def check_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_environ(PYTHONPATH=str(REPO_ROOT), PG_DATA_DIR=str(tmp_path / "pg"), **extra)


def run_module(tmp_path: Path, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"cqt.checks.{name}", "--window", "60", *args],
        cwd=tmp_path,
        env=check_env(tmp_path, **env),
        text=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", CHECK_NAMES)
def test_unreachable_db_url_exits_2_with_the_fix(tmp_path: Path, name: str) -> None:
    proc = run_module(tmp_path, name, DB_URL=UNREACHABLE)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{name.upper()}: ERROR (database unreachable")
    assert "fix: start PostgreSQL at that address or correct DB_URL" in summary
    assert "could not run" in proc.stderr


def test_json_reports_error_status(tmp_path: Path) -> None:
    proc = run_module(tmp_path, "altdata", "--json", DB_URL=UNREACHABLE)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["check"] == "altdata" and doc["status"] == "ERROR" and doc["window_s"] == 60
    assert doc["measurements"] == [] and "DB_URL" in doc["error"]


def test_stopped_embedded_server_is_not_started(tmp_path: Path) -> None:
    proc = run_module(tmp_path, "feature")
    assert proc.returncode == 2
    assert "embedded PostgreSQL under" in proc.stdout and "`cqt db up`" in proc.stdout
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


def test_database_behind_on_migrations_exits_2(fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True):
        pass  # an empty database: no migration applied
    proc = run_module(tmp_path, "leak", DB_URL=fresh_db)
    assert proc.returncode == 2
    assert "behind on migrations" in proc.stdout and "cqt db migrate" in proc.stdout


def test_cli_check_all_exits_2_and_prints_overall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.upper() in SETTING_NAMES:
            monkeypatch.delenv(key)
    monkeypatch.setenv("DB_URL", UNREACHABLE)
    result = CliRunner().invoke(app, ["check", "all", "--window", "60"])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [n.upper() for n in CHECK_NAMES]
    assert lines[-1].startswith("PIPELINE OVERALL: FAIL (altdata ERROR")


def test_script_without_database_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO_ROOT / "scripts" / "run_pipeline_checks.sh"), "--window", "60"],
        cwd=tmp_path,
        env=check_env(tmp_path, DB_URL=UNREACHABLE),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 5
    assert all(": ERROR (database unreachable" in line for line in lines[:4])
    assert lines[-1] == "PIPELINE OVERALL: FAIL (altdata ERROR,feature ERROR,leak ERROR,coinglass ERROR)"


def test_script_rejects_a_missing_window(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO_ROOT / "scripts" / "run_pipeline_checks.sh")],
        cwd=tmp_path,
        env=check_env(tmp_path),
        text=True,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "--window N" in proc.stderr
