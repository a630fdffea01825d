"""A bot that cannot start says why in one line and exits 2: no traceback, no secret, no run row."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.settings_env import bot_environ

PASSWORD = "s3cretpw"


def run_bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqt.bot", "--duration", "5", *args],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, `message` as the last line of stderr, nothing on stdout (no run, so no summary)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == f"bot not started: {message}", result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def run_rows(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM bot_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_busy_metrics_port_exits_2_before_the_run_row(db: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_bot(
            tmp_path, {**bot_environ(tmp_path, db), "METRICS_PORT": str(port)}, "--source", "live"
        )
    assert_refused(result, f"port {port} is in use; set METRICS_PORT (0 = any free port)")
    assert run_rows(db) == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed


@pytest.mark.parametrize(
    ("source", "setting", "hint"),
    [
        ("live", "DB_URL", "check DB_URL or run `cqt db check`"),
        ("sim", "SIM_DB_URL", "check SIM_DB_URL or run `cqt db check --source sim`"),
    ],
)
def test_unreachable_database_exits_2_without_the_password(
    db: str, tmp_path: Path, source: str, setting: str, hint: str
) -> None:
    url = f"postgresql://cqt:{PASSWORD}@127.0.0.1:{_closed_port()}/cqt"
    result = run_bot(tmp_path, {**bot_environ(tmp_path, db), setting: url}, "--source", source)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bot not started: database not reachable (") and last.endswith(hint), last
    assert "refused" in last
    assert "Traceback" not in result.stderr and PASSWORD not in result.stdout + result.stderr


def test_bad_setting_exits_2_naming_it(db: str, tmp_path: Path) -> None:
    result = run_bot(tmp_path, {**bot_environ(tmp_path, db), "METRICS_PORT": "ninety"})
    assert result.returncode == 2
    assert "invalid setting METRICS_PORT='ninety'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("setting", ["LOG_DIR", "SPOOL_DIR"])
def test_unusable_directory_exits_2_naming_the_setting(db: str, tmp_path: Path, setting: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_bot(tmp_path, {**bot_environ(tmp_path, db), setting: str(blocker / "sub")})
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bot not started: cannot ") and last.endswith(
        f"set {setting} to a writable directory"
    ), last
    assert "Traceback" not in result.stderr
    assert run_rows(db) == 0
