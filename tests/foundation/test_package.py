"""The installed package: the Rust core is importable and the layout files are valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import cqt
from cqt import _core
from tests.conftest import REPO_ROOT
from tests.foundation.cli_runner import run_cqt


def test_rust_core_version_matches_its_crate() -> None:
    crate = tomllib.loads((REPO_ROOT / "core_rs" / "Cargo.toml").read_text())
    assert _core.version() == crate["package"]["version"]
    assert cqt.core_version() == _core.version()


def test_cli_version_reports_both(tmp_path: Path) -> None:
    result = run_cqt("version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"cqt {cqt.__version__} (core {_core.version()})"


def test_every_subcommand_has_help(tmp_path: Path) -> None:
    for args in (["--help"], ["db", "--help"], ["db", "check", "--help"], ["env", "init", "--help"]):
        result = run_cqt(*args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_file_validates(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install a compose client (.ci/run installs docker-compose)")
        pytest.skip("no docker compose client on this machine")
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [*command, "-f", "docker-compose.yml", "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for service in ("db:", "bot:", "dashboard:"):
        assert service in result.stdout


IGNORED = [
    ".env",
    ".env.bak.20261120T000000Z",
    "data/datasets/x.parquet",
    "logs/bot.log",
    "data/pg/PG_VERSION",
]


def test_gitignore_covers_secrets_and_data() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *IGNORED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == IGNORED
