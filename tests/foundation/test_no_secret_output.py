"""Every command that reads a database refuses a DB_URL or SIM_DB_URL that does not parse with exit 2 and
the URL masked (issue 18): nothing it prints, and nothing the bot logs, holds the password or a piece of
it. tests/foundation/test_db_url.py covers the first commands with two malformed forms; this adds the rest
of the commands, the simulator's setting, and a password with an unescaped @ and / (libpq splits such a
URL at the first @ and would have shown the rest of the password as the host)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cqt.db.url import mask
from tests.conftest import REPO_ROOT
from tests.settings_env import clean_environ

PASSWORD = "Kx7@tangerine/Qw#91"
PIECES = [p for p in re.split(r"[@/#]", PASSWORD) if len(p) >= 4]  # what a split at @ or / would show
AT_IN_PASSWORD = f"postgresql://cqt:{PASSWORD}@db.example:5432/cqt"
MALFORMED = [f"postgresql:/cqt:{PASSWORD}@db.example/cqt", f"mysql://cqt:{PASSWORD}@db.example/cqt"]
COMMANDS = {
    "db check": ["-m", "cqt", "db", "check"],
    "db status": ["-m", "cqt", "db", "status"],
    "db url": ["-m", "cqt", "db", "url"],
    "check": ["-m", "cqt", "check", "all", "--window", "60"],
    "export": ["-m", "cqt", "export", "--output", "out.parquet", "--last", "1h"],
    "bars rebuild": ["-m", "cqt", "bars", "rebuild", "--start", "2026-11-20T10:00:00Z", "--end", "2026-11-20T11:00:00Z"],
    "dashboard": ["-m", "cqt", "dashboard"],
    "bot": ["-m", "cqt.bot", "--duration", "5"],
    "pipeline checks": [str(REPO_ROOT / "scripts" / "run_pipeline_checks.sh"), "--window", "60"],
}  # fmt: skip
NOT_IN_TEST_DB_URL = ["db url", "bars rebuild", "pipeline checks"]


def run(tmp_path: Path, name: str, setting: str, url: str) -> str:
    """Run command `name` with `setting` = `url` (with --source sim for SIM_DB_URL); returns stdout+stderr
    after checking the exit code and that no password piece was printed or logged."""
    argv = COMMANDS[name] + (["--source", "sim"] if setting == "SIM_DB_URL" else [])
    exe = ["bash"] if name == "pipeline checks" else [sys.executable]
    env = clean_environ(**{setting: url}, LOG_DIR=str(tmp_path / "logs"), SPOOL_DIR=str(tmp_path / "spool"))
    proc = subprocess.run(
        [*exe, *argv], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    logged = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*"))
    for piece in [PASSWORD, *PIECES]:
        assert piece not in out and piece not in logged, (piece, out)
    assert "Traceback" not in out
    return out


def test_mask_hides_every_piece_of_a_password_with_at_and_slash() -> None:
    assert mask(AT_IN_PASSWORD) == "postgresql://cqt:***@db.example:5432/cqt"
    assert mask(f"postgresql:/cqt:{PASSWORD}@h/cqt") == "postgresql:/cqt:***@h/cqt"
    assert mask("postgresql://cqt@h/cqt") == "postgresql://cqt@h/cqt"  # nothing to hide, nothing hidden


@pytest.mark.parametrize("setting", ["DB_URL", "SIM_DB_URL"])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_at_in_the_password_is_refused_masked_by_every_command(
    tmp_path: Path, name: str, setting: str
) -> None:
    out = run(tmp_path, name, setting, AT_IN_PASSWORD)
    assert f"{setting}=<secret>" in out and "has more than one @: write an @ in the password as %40" in out
    assert "postgresql://cqt:***@db.example:5432/cqt" in out


@pytest.mark.parametrize("url", MALFORMED, ids=["one-slash", "mysql"])
@pytest.mark.parametrize("name", NOT_IN_TEST_DB_URL)
def test_the_other_commands_refuse_a_malformed_url_masked(tmp_path: Path, name: str, url: str) -> None:
    out = run(tmp_path, name, "DB_URL", url)
    assert "DB_URL=<secret>" in out and "is not a PostgreSQL connection string" in out
