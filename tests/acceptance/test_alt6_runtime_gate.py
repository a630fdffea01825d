"""Steps of features/alt6_runtime_gate.feature (ALT-6 items 1-10)."""

from __future__ import annotations

import pytest
from pytest_bdd import given, scenarios, then, when

from cqt.gate import evidence, runtime, static
from cqt.gate.evidence import CoinglassCalls, RunSpan
from cqt.gate.pipeline import PipelineRun
from cqt.gate.session import GateSession
from tests.acceptance.judging import judge, pending_guard

scenarios("../../features/alt6_runtime_gate.feature")


@when("every Python source file of the checkout is compiled")
@when("each required entry point is started with --help")
@when("the cqt package is scanned for SQL text assembled from values")
@when("git is asked about .env, .env.bak*, data/datasets/* and logs/")
def static_look() -> None:
    """Each static gate looks and judges in its Then step (one function of cqt.gate.static)."""


@then("none of them fails to compile")
def compiles(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: static.compile_all(gate.root))


@then("every one of them exists and exits 0")
def entry_points_start(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: static.entry_points(gate.root))


@then("no such SQL text is found")
def no_interpolated_sql(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: static.sql_interpolation(gate.root))


@then("each of them is ignored and none is tracked")
def ignored(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: static.gitignore(gate.root))


@then("SELECT 1 returned 1")
def select_one(request: pytest.FixtureRequest, gate: GateSession) -> None:
    judge(request, lambda: f"{gate.database()[1]}{gate.profile.note()}")


@given("a bot that has been running for the whole check window", target_fixture="window_run")
def window_run(gate: GateSession) -> RunSpan:
    found: list[RunSpan] = []
    pending_guard(
        lambda: found.append(
            runtime.running_for(gate.runs(), gate.profile.check_window_s, gate.profile, gate.bot_hint())
        )
    )
    return found[0]


@when("run_pipeline_checks.sh runs over that window", target_fixture="checked")
def checks_run(gate: GateSession) -> PipelineRun:
    return gate.pipeline(gate.profile.check_window_s)


@then("it exits 0 with altdata, feature, leak and coinglass all PASS")
def checks_pass(
    request: pytest.FixtureRequest, gate: GateSession, window_run: RunSpan, checked: PipelineRun
) -> None:
    judge(request, lambda: runtime.pipeline_checks(window_run, checked, gate.profile))


@when("coinglass_call_status is read for that window", target_fixture="calls")
def calls_read(gate: GateSession) -> CoinglassCalls:
    return evidence.coinglass_calls(gate.conninfo, gate.profile.check_window_s)


@then("it holds calls with ok = true")
def calls_ok(
    request: pytest.FixtureRequest, gate: GateSession, window_run: RunSpan, calls: CoinglassCalls
) -> None:
    judge(
        request,
        lambda: runtime.coinglass_collection(
            gate.settings, window_run, calls, gate.profile.check_window_s, gate.profile
        ),
    )
