"""scripts/run_pipeline_checks.sh end to end: after a short simulator run of the bot every check passes
(exit 0, measured values printed); a planted failure turns the overall line to FAIL with exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.checks.conftest import Evidence
from tests.checks.test_cannot_run import check_env
from tests.conftest import REPO_ROOT

SCRIPT = str(REPO_ROOT / "scripts" / "run_pipeline_checks.sh")


# A live database nobody listens on: a simulator run and `--source sim` checks must never need it.
NO_LIVE_DB = "postgresql://cqt@127.0.0.1:1/cqt?connect_timeout=1"


def run_script(tmp_path: Path, db: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        cwd=tmp_path,
        env=check_env(tmp_path, **(settings or {"DB_URL": db})),
        text=True,
        capture_output=True,
        timeout=300,
    )


def test_checks_pass_after_a_simulator_run_of_the_bot(db: str, tmp_path: Path) -> None:
    env = check_env(
        tmp_path,
        DB_URL=NO_LIVE_DB,
        SIM_DB_URL=db,
        METRICS_PORT="0",
        SPOOL_DIR=str(tmp_path / "spool"),
        LOG_DIR=str(tmp_path / "logs"),
        BINANCE_SYMBOLS="BTCUSDT",
        UPBIT_MARKETS="KRW-BTC",
    )
    bot = subprocess.run(
        [sys.executable, "-m", "cqt.bot", "--source", "sim", "--duration", "75"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=180,
    )
    assert bot.returncode == 0, bot.stderr[-3000:]
    proc = run_script(
        tmp_path, db, "--window", "60", "--verbose", "--source", "sim", DB_URL=NO_LIVE_DB, SIM_DB_URL=db
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for name in ("ALTDATA", "FEATURE", "LEAK", "COINGLASS"):
        assert f"\n{name}: PASS (" in out
    assert out.strip().endswith("PIPELINE OVERALL: PASS")
    assert "ok   binance/BTCUSDT/aggTrade fill = " in out  # measured values, with --verbose every one
    assert "simulator key used by run 1" in out


def test_script_fails_with_exit_1_when_a_check_fails(healthy: Evidence, tmp_path: Path) -> None:
    healthy.execute("DELETE FROM trades WHERE exchange = 'upbit' AND ts > now() - interval '40 s'")
    proc = run_script(tmp_path, healthy.db, "--window", "60")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("ALTDATA: FAIL (2 of ") and "upbit/KRW-BTC/trade lag_event_s" in lines[0]
    assert [line.split(" ")[1] for line in lines[1:4]] == ["PASS", "PASS", "PASS"]
    assert lines[-1] == "PIPELINE OVERALL: FAIL (altdata FAIL)"
