"""Steps of features/alt5_operations.feature (ALT-5 items 1-9)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_bdd import scenarios, then, when

from cqt.gate import datasets, evidence, matrix, pipeline, runtime
from cqt.gate.commands import LABELS_STUDY, Completed, run
from cqt.gate.dashboard import dashboard_health
from cqt.gate.evidence import RunSpan
from cqt.gate.exports import ExportFile
from cqt.gate.items import ITEMS
from cqt.gate.matrix import RunInfo
from cqt.gate.pipeline import PipelineRun
from cqt.gate.plugin import SESSION_RESULTS
from cqt.gate.session import GateSession
from cqt.gate.verdict import GateFailure, GateResult
from tests.acceptance.judging import judge

scenarios("../../features/alt5_operations.feature")

STUDY_TIMEOUT_S = 1_800.0


@when("the dashboard is started on a free local port")
def dashboard_started() -> None:
    """Started (and stopped) by the Then step, which asks its health route while it runs."""


@then("its Streamlit health route answers ok")
def dashboard_ok(request: pytest.FixtureRequest, gate: GateSession) -> None:
    log = gate.out_dir / "dashboard-gate.log"
    judge(request, lambda: f"{dashboard_health(gate.root, log)}{gate.profile.note()}")


@when("the pipeline checks run over every milestone the running bot has reached", target_fixture="milestones")
def milestones_run(gate: GateSession) -> tuple[list[RunSpan], dict[int, PipelineRun]]:
    runs = gate.runs()
    return runs, {w: gate.pipeline(w) for w in runtime.due_milestones(runs, gate.profile)}


@then("every milestone passes, module by module")
def milestones_pass(
    request: pytest.FixtureRequest,
    gate: GateSession,
    milestones: tuple[list[RunSpan], dict[int, PipelineRun]],
) -> None:
    runs, results = milestones
    judge(request, lambda: runtime.milestone_checks(runs, results, gate.profile))


@then("almost no rows were dropped for a label_ts before t0 plus the horizon")
def few_violations(
    request: pytest.FixtureRequest, gate: GateSession, exported: Callable[[], ExportFile]
) -> None:
    judge(request, lambda: datasets.violation_drops(exported(), gate.profile))


@then("the leak check's audit of the file finds no label before t0 plus the horizon")
def audited(request: pytest.FixtureRequest, gate: GateSession, exported: Callable[[], ExportFile]) -> None:
    def audit() -> str:
        path = exported().path
        result = pipeline.audit_dataset(gate.root, path, gate.profile.check_window_s)
        return pipeline.judge_audit(result, path) + gate.profile.note()

    judge(request, audit)


@when("the label study runs over the last 24 hours", target_fixture="study")
def study_run(gate: GateSession) -> Completed | str:
    missing = LABELS_STUDY.missing(gate.root)
    return missing or run(LABELS_STUDY.argv("--last", "24h"), gate.root, STUDY_TIMEOUT_S)


@then("fixed and dynamic r_t are compared side by side and an all-NONE policy is explained")
def study_explained(request: pytest.FixtureRequest, gate: GateSession, study: Completed | str) -> None:
    judge(request, lambda: datasets.label_study(study, gate.profile))


@when("the bot runs, their task events and the bot log are read", target_fixture="record")
def record_read(gate: GateSession) -> Callable[[], str]:
    def make() -> str:
        runs = gate.runs()
        best = evidence.longest(runs)
        events = evidence.top_event_messages(gate.conninfo, best.run_id) if best else []
        logs = evidence.log_messages(gate.log_dir())
        return runtime.operations_record(runs, events, logs, gate.profile, gate.bot_hint())

    return make


@then("the record names start, stop, continuous duration, stop cause and the top 5 warnings or errors")
def record_complete(request: pytest.FixtureRequest, record: Callable[[], str]) -> None:
    judge(request, record)


@when("the ALT-5 report is written from this session's results", target_fixture="written")
def report_written(gate: GateSession) -> tuple[list[matrix.Row], str]:
    own = GateResult("ALT-5.9", "PASS", "this report, written by the session that judged the items above")
    rows = matrix.rows_of([*SESSION_RESULTS, own])
    info = RunInfo(gate.profile.name, "during the gate session", f"cqt gate --profile {gate.profile.name}")
    path = matrix.write_alt_report(gate.out_dir, "ALT-5", rows, info)
    return rows, path.read_text(encoding="utf-8")


@then("it reads back with one row per ALT-5 item")
def report_complete(
    request: pytest.FixtureRequest, gate: GateSession, written: tuple[list[matrix.Row], str]
) -> None:
    rows, text = written

    def check() -> str:
        wanted = [r for r in rows if r.item.report == "ALT-5"]
        table = [
            line
            for line in text.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip().isdigit()
        ]
        numbers = [int(line.split("|")[1]) for line in table]
        expected = [i.number for i in ITEMS if i.report == "ALT-5"]
        if numbers != expected:
            raise GateFailure(f"reports/ALT-5.md lists items {numbers}, expected {expected}")
        for row, line in zip(wanted, table, strict=True):
            if matrix.MARK[row.result.status] not in line:
                raise GateFailure(
                    f"reports/ALT-5.md row {row.item.number} does not show {row.result.status}: {line[:120]}"
                )
        return f"{gate.out_dir / 'ALT-5.md'} written: {len(table)} item rows ({matrix.summary_text(wanted)}), {len(text)} bytes"

    judge(request, check)
