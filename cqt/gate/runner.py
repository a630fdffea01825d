"""`cqt gate`: run the gate suite under pytest-bdd (with Allure results), then write the reports.

The suite is `tests/acceptance/` of the checkout that holds this package (it is not part of the plain
`python -m pytest` run: pyproject ignores it there). The matrix is built from the per-scenario results
the `cqt.gate.plugin` records, never from pytest's console output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from cqt.config import Settings
from cqt.gate.local_run import LocalRun
from cqt.gate.matrix import Row, RunInfo, rows_of, write_all
from cqt.gate.profiles import PROFILE_ENV, PROFILES, SOURCE_ENV
from cqt.gate.session import REPORTS_ENV
from cqt.gate.verdict import RESULTS_ENV, GateResult

SUITE = (
    # ALT-6 first: its static gates run while the local bot accumulates run time.
    Path("tests/acceptance/test_alt6_runtime_gate.py"),
    Path("tests/acceptance/test_alt5_operations.py"),
)
# Per-scenario limit: a 24 h export of a deployment takes minutes, a hung command must still end.
SCENARIO_TIMEOUT_S = 3_600


class SuiteMissing(RuntimeError):
    """The gate suite is not in this checkout."""


def project_root() -> Path:
    """The checkout this package was installed from (editable install)."""
    return Path(__file__).resolve().parents[2]


def pytest_argv(out_dir: Path) -> list[str]:
    """The pytest command of the suite."""
    return [
        sys.executable, "-m", "pytest", *map(str, SUITE),
        "-o", "addopts=", "-o", f"timeout={SCENARIO_TIMEOUT_S}", "-p", "no:cacheprovider", "-p", "cqt.gate.plugin",
        "--strict-markers", "-rA", "--tb=short", "--alluredir", str(out_dir / "allure-results"), "--clean-alluredir",
    ]  # fmt: skip


def read_results(path: Path) -> list[GateResult]:
    """The results the plugin appended, one JSON object per line."""
    if not path.is_file():
        return []
    return [
        GateResult.from_json(json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    ]


def source_env(settings: Settings) -> dict[str, str]:
    """The environment that makes the suite and every command it starts read `settings`' database (the
    commands' default source is live, so the chosen database is handed to them as the live one)."""
    url = settings.db_url.get_secret_value() if settings.db_url is not None else ""
    return {"DB_URL": url, "PG_DATA_DIR": str(settings.pg_data_dir)}


def run_gate(
    profile_name: str,
    strict: bool,
    root: Path | None = None,
    out_dir: Path | None = None,
    sim_settings: Settings | None = None,
) -> tuple[int, list[Row]]:
    """Run the suite for `profile_name` (the deployment profile on the simulator's database when
    `sim_settings` are given); write the reports; (exit code, rows)."""
    root = root or project_root()
    missing = [str(p) for p in SUITE if not (root / p).is_file()]
    if missing:
        raise SuiteMissing(
            f"the gate suite is not in {root}: missing {', '.join(missing)} (run from a source checkout)"
        )
    out_dir = out_dir or root / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / "gate-results.jsonl"
    results_file.unlink(missing_ok=True)
    env = {
        PROFILE_ENV: PROFILES[profile_name].name,
        RESULTS_ENV: str(results_file),
        REPORTS_ENV: str(out_dir),
    }
    if sim_settings is not None and profile_name != "local":
        env.update({**source_env(sim_settings), SOURCE_ENV: "sim"})
    local = LocalRun(root) if profile_name == "local" else None
    try:
        if local is not None:
            env.update(local.start())
            print(
                f"gate: local profile: bot started against {root / 'data/gate'}; runtime gates wait for its run",
                flush=True,
            )
            threading.Thread(target=local.count_down, name="gate-countdown", daemon=True).start()
        subprocess.run(pytest_argv(out_dir), cwd=root, env={**os.environ, **env}, check=False)
    finally:
        if local is not None:
            print(f"gate: {local.stop()}", flush=True)
    rows = rows_of(read_results(results_file))
    command = "cqt gate --profile " + profile_name + (" --strict" if strict else "")
    info = RunInfo(
        profile_name, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), command, _note(profile_name)
    )
    code = write_all(out_dir, rows, info, strict)
    return code, rows


def _note(profile_name: str) -> str:
    if profile_name != "local":
        return " Evidence: the configured database (DB_URL, or the embedded server under PG_DATA_DIR)."
    return (
        " Evidence: a short simulator run on the local profile's own database (data/gate/pg); 120 s stand in for"
        " 10 min, gates that need 1 h or 24 h stay PENDING."
    )
