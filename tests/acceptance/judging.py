"""How a step's gate decision becomes the scenario's outcome: PASS records the evidence (printed and
attached to Allure), `Pending` becomes a skip with its structured reason, `GateFailure` fails the
scenario with the failure guide."""

from __future__ import annotations

from collections.abc import Callable

import allure
import pytest

from cqt.gate.plugin import EVIDENCE, record_evidence
from cqt.gate.verdict import Pending


def judge(request: pytest.FixtureRequest, decide: Callable[[], str]) -> str:
    """Run a gate decision: evidence on PASS, skip on PENDING; GateFailure propagates as the FAIL."""
    try:
        evidence = decide()
    except Pending as exc:
        pytest.skip(str(exc))
    earlier = request.node.stash.get(EVIDENCE, None)
    record_evidence(request.node, evidence if earlier is None else f"{earlier}; {evidence}")
    print(f"evidence: {evidence}")
    allure.attach(evidence, name="evidence", attachment_type=allure.attachment_type.TEXT)
    return evidence


def pending_guard(get: Callable[[], object]) -> None:
    """Evaluate a precondition; its Pending becomes the scenario's skip."""
    try:
        get()
    except Pending as exc:
        pytest.skip(str(exc))
