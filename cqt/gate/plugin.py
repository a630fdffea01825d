"""pytest plugin of the gate suite (`-p cqt.gate.plugin`): one `GateResult` per scenario, from the report.

PASS needs the evidence the step recorded (a scenario that passes without recording any is a FAIL: a
gate is never PASS on evidence it did not check); a skip carrying `PENDING[...]` is PENDING; anything
else that goes wrong is FAIL with its message. Results are appended as JSON lines to the file named by
`CQT_GATE_RESULTS` and kept in `SESSION_RESULTS` for the ALT-5 item 9 scenario.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import pytest

from cqt.gate.items import item_of
from cqt.gate.verdict import RESULTS_ENV, GateResult, parse_pending

EVIDENCE = pytest.StashKey[str]()
SESSION_RESULTS: list[GateResult] = []


def record_evidence(node: pytest.Item, text: str) -> None:
    """Remember the PASS evidence of the scenario running on `node`."""
    node.stash[EVIDENCE] = text


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longreprtext)
    return text.removeprefix("AssertionError: ").removeprefix("cqt.gate.verdict.GateFailure: ").strip()


def result_of(item: pytest.Item, report: pytest.TestReport) -> GateResult | None:
    """The gate result a finished phase decides, or None while the scenario is still going."""
    gate = item_of(getattr(getattr(item, "function", None), "__doc__", None) or item.name)
    if gate is None:
        return None
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        pending = parse_pending(reason)
        if pending is None:
            return GateResult(
                gate.id, "FAIL", f"skipped without a stated precondition: {reason}", None, report.duration
            )
        return GateResult(gate.id, "PENDING", pending[1], pending[0], report.duration)
    if report.failed:
        phase = "" if report.when == "call" else f"error in {report.when}: "
        return GateResult(gate.id, "FAIL", phase + _message(report), None, report.duration)
    if report.when != "call":
        return None
    evidence = item.stash.get(EVIDENCE, None)
    if evidence is None:
        return GateResult(
            gate.id, "FAIL", "the scenario passed without recording any evidence", None, report.duration
        )
    return GateResult(gate.id, "PASS", evidence, None, report.duration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    result = result_of(item, report)
    if result is not None and not any(r.item == result.item for r in SESSION_RESULTS):
        SESSION_RESULTS.append(result)
        target = os.environ.get(RESULTS_ENV)
        if target:
            with Path(target).open("a", encoding="utf-8") as out:
                out.write(json.dumps(result.to_json()) + "\n")
    return report
