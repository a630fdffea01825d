"""The gate suite's shared fixtures and steps (run by `cqt gate`, not by the plain pytest run).

A step decides through the functions of `cqt.gate`; `judging.judge` turns the outcome into the test's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from cqt.config import load_settings
from cqt.gate import runtime
from cqt.gate.evidence import RunSpan
from cqt.gate.exports import ExportFile
from cqt.gate.local_run import RunFile
from cqt.gate.profiles import DAY_S, LOCAL_RUN_ENV, from_env
from cqt.gate.session import REPORTS_ENV, GateSession
from tests.acceptance.judging import judge, pending_guard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gate() -> GateSession:
    run_file = os.environ.get(LOCAL_RUN_ENV)
    local = RunFile.read(Path(run_file)) if run_file else None
    out_dir = Path(os.environ.get(REPORTS_ENV, ROOT / "reports"))
    return GateSession(ROOT, from_env(), load_settings(), local, out_dir)


@given("the configured database answers")
def database_answers(gate: GateSession) -> None:
    pending_guard(gate.database)


@when("the Coinglass settings are read")
def coinglass_settings_read() -> None:
    """The settings were loaded with the session; the Then step judges them."""


@then("COINGLASS_ENABLED is true and COINGLASS_API_KEY is a real key")
def coinglass_key_real(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: runtime.coinglass_settings(gate.settings, gate.profile))


@when("the bot runs are read from bot_runs", target_fixture="runs")
def runs_read(gate: GateSession) -> list[RunSpan]:
    return gate.runs()


@then(parsers.parse("the longest run lasted at least {amount:d} {unit} without a heartbeat gap"))
def longest_run(
    request: pytest.FixtureRequest, gate: GateSession, runs: list[RunSpan], amount: int, unit: str
) -> None:
    need = {"minutes": gate.profile.continuous_s if amount == 10 else amount * 60, "hours": amount * 3600}[
        unit
    ]
    judge(request, lambda: runtime.continuous_run(runs, need, gate.profile, gate.bot_hint()))


@given("a bot that has run for 24 hours")
def day_long_run(gate: GateSession) -> None:
    pending_guard(lambda: runtime.continuous_run(gate.runs(), DAY_S, gate.profile, gate.bot_hint()))


@when(parsers.parse("the {hours:d}-hour dataset is exported with a 120 s horizon"), target_fixture="exported")
def dataset_exported(gate: GateSession, hours: int) -> Callable[[], ExportFile]:
    return lambda: gate.export(f"btc_{hours}h.parquet", f"{hours}h")


@then("the Parquet file reads back with rows")
def export_reads_back(
    request: pytest.FixtureRequest, gate: GateSession, exported: Callable[[], ExportFile]
) -> None:
    judge(request, lambda: f"{exported().describe()}{gate.profile.note()}")
