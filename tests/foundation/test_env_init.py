"""`cqt env init`: builds .env from the template, backs up, never prints or loses a real key."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dotenv import dotenv_values

from cqt.envfile import init_env
from tests.conftest import REPO_ROOT
from tests.foundation.cli_runner import run_cqt

REAL_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".env.example").write_text((REPO_ROOT / ".env.example").read_text())
    return tmp_path


def test_creates_env_from_template_private(project: Path) -> None:
    result = init_env(project / ".env.example", project / ".env", environ={})
    assert result.backup is None
    env = dotenv_values(project / ".env")
    assert env == dotenv_values(project / ".env.example")
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600


def test_keeps_real_key_and_backs_up(project: Path) -> None:
    old = f"COINGLASS_API_KEY={REAL_KEY}\nLOG_LEVEL=DEBUG\nMY_OWN_SETTING=1\n"
    (project / ".env").write_text(old)
    when = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    result = init_env(project / ".env.example", project / ".env", environ={}, now=when)
    assert result.backup == project / ".env.bak.20261120T120000Z"
    assert result.backup.read_text() == old
    env = dotenv_values(project / ".env")
    assert env["COINGLASS_API_KEY"] == REAL_KEY
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["MY_OWN_SETTING"] == "1"
    assert env["BINANCE_SYMBOLS"] == "BTCUSDT"  # filled in from the template


def test_placeholder_in_environment_never_replaces_real_key(project: Path) -> None:
    (project / ".env").write_text(f"COINGLASS_API_KEY={REAL_KEY}\n")
    init_env(project / ".env.example", project / ".env", environ={"COINGLASS_API_KEY": "changeme"})
    assert dotenv_values(project / ".env")["COINGLASS_API_KEY"] == REAL_KEY


def test_real_key_from_environment_is_activated(project: Path) -> None:
    (project / ".env").write_text("COINGLASS_API_KEY=your_coinglass_api_key_here\n")
    result = init_env(project / ".env.example", project / ".env", environ={"COINGLASS_API_KEY": REAL_KEY})
    assert dotenv_values(project / ".env")["COINGLASS_API_KEY"] == REAL_KEY
    status = {s.name: s for s in result.secrets}["COINGLASS_API_KEY"]
    assert (status.present, status.length, status.placeholder) == (True, len(REAL_KEY), False)


def test_two_runs_in_one_second_keep_both_backups(project: Path) -> None:
    when = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
    (project / ".env").write_text("LOG_LEVEL=DEBUG\n")
    first = init_env(project / ".env.example", project / ".env", environ={}, now=when)
    second = init_env(project / ".env.example", project / ".env", environ={}, now=when)
    assert first.backup and second.backup and first.backup != second.backup
    assert first.backup.read_text() == "LOG_LEVEL=DEBUG\n"
    assert second.backup.exists()


def test_cli_prints_presence_and_length_never_the_key(project: Path) -> None:
    (project / ".env").write_text(f"COINGLASS_API_KEY={REAL_KEY}\n")
    result = run_cqt("env", "init", cwd=project, env={"COINGLASS_API_KEY": REAL_KEY})
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert REAL_KEY not in out
    assert REAL_KEY[:8] not in out and REAL_KEY[-8:] not in out
    assert f"COINGLASS_API_KEY: present, length {len(REAL_KEY)}, placeholder no" in out
    assert dotenv_values(project / ".env")["COINGLASS_API_KEY"] == REAL_KEY


def test_cli_without_template_exits_2(tmp_path: Path) -> None:
    result = run_cqt("env", "init", cwd=tmp_path)
    assert result.returncode == 2
    assert ".env.example" in result.stderr and "not found" in result.stderr
