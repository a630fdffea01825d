"""A DB_URL that does not parse stops every command with exit 2 and the URL masked: the password is never
printed (it used to come out in a psycopg traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cqt.config import ConfigError, load_settings
from cqt.db.url import mask
from tests.settings_env import clean_environ

PASSWORD = "hunter2-Very-Secret"
BAD_URLS = [f"postgresql:/cqt:{PASSWORD}@db.example/cqt", f"mysql://cqt:{PASSWORD}@db.example/cqt"]
COMMANDS = [
    ["-m", "cqt", "db", "check"],
    ["-m", "cqt", "db", "status"],
    ["-m", "cqt", "check", "all", "--window", "60"],
    ["-m", "cqt", "export", "--output", "out.parquet", "--last", "1h"],
    ["-m", "cqt.bot", "--source", "live", "--duration", "5"],
    ["-m", "cqt", "dashboard"],
]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"postgresql://cqt:{PASSWORD}@h:5432/cqt", "postgresql://cqt:***@h:5432/cqt"),
        (f"postgresql:/cqt:{PASSWORD}@h/cqt", "postgresql:/cqt:***@h/cqt"),
        (f"host=h password={PASSWORD} dbname=cqt", "host=h password=*** dbname=cqt"),
        (f"host=h password='{PASSWORD} x' dbname=cqt", "host=h password=*** dbname=cqt"),
        ("postgresql://h/cqt", "postgresql://h/cqt"),
    ],
)
def test_mask_hides_the_password_parsed_or_not(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize("url", BAD_URLS)
def test_settings_reject_an_unparseable_url_without_showing_the_password(url: str) -> None:
    for name in ("db_url", "sim_db_url"):
        with pytest.raises(ConfigError) as caught:
            load_settings(env_file=None, **{name: url})
        assert PASSWORD not in str(caught.value)
        assert name.upper() in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[1:3]))
def test_every_command_exits_2_and_never_prints_the_password(
    tmp_path: Path, url: str, argv: list[str]
) -> None:
    env = clean_environ(DB_URL=url, SIM_DB_URL=url, LOG_DIR=str(tmp_path / "logs"))
    proc = subprocess.run(
        [sys.executable, *argv], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=60
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert PASSWORD not in out
    assert "DB_URL" in out and "Traceback" not in out
    for log in (tmp_path / "logs").glob("*"):
        assert PASSWORD not in log.read_text(errors="replace")


def test_a_spool_dir_that_is_a_file_is_a_setting_error(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_text("not a directory")
    with pytest.raises(ConfigError, match="SPOOL_DIR.*not a directory"):
        load_settings(env_file=None, spool_dir=spool)
