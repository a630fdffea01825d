"""`cqt export` / scripts/export_dataset.py refuse to run with a clear message and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.settings_env import bot_environ

SCRIPT = str(REPO_ROOT / "scripts" / "export_dataset.py")


def export(tmp_path: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, *args], cwd=tmp_path, env=bot_environ(tmp_path, db), text=True,
        capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("horizon", ["0", "-5"])
def test_horizon_must_be_positive(tmp_path: Path, horizon: str) -> None:
    done = export(tmp_path, "postgresql://x@127.0.0.1:1/x", "--output", str(tmp_path / "a.parquet"),
                  "--horizon", horizon)  # fmt: skip
    assert done.returncode == 2 and "--horizon must be > 0 seconds" in done.stderr


def test_database_unreachable(tmp_path: Path) -> None:
    done = export(tmp_path, "postgresql://x@127.0.0.1:1/x", "--output", str(tmp_path / "a.parquet"))
    assert done.returncode == 2
    assert "DB_CONNECT_FAIL" in done.stderr and "127.0.0.1:1" in done.stderr


def test_empty_range(db: str, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    done = export(
        tmp_path, db, "--output", str(out), "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T01:00"
    )
    assert done.returncode == 2
    assert (
        "empty range: no Binance bars of BTCUSDT with 2026-01-01T00:00:00.000Z <= ts < 2026-01-01T01:00:00.000Z"
        in done.stderr
    )
    assert not out.exists()


def test_unwritable_output(db: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = export(tmp_path, db, "--output", str(blocker / "a.parquet"))
    assert done.returncode == 2 and f"cannot write the output {blocker / 'a.parquet'}" in done.stderr


def test_bad_policy_and_range_options(tmp_path: Path) -> None:
    db = "postgresql://x@127.0.0.1:1/x"
    out = str(tmp_path / "a.parquet")
    assert "fixed:<r>" in export(tmp_path, db, "--output", out, "--r-policy", "fixed:abc").stderr
    both = export(tmp_path, db, "--output", out, "--last", "1h", "--start", "2026-01-01")
    assert both.returncode == 2 and "either --last or --start/--end" in both.stderr
    backwards = export(tmp_path, db, "--output", out, "--start", "2026-01-02", "--end", "2026-01-01")
    assert backwards.returncode == 2 and "is not before end" in backwards.stderr
