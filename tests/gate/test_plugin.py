"""The results plugin turns each scenario's report into a gate result (run in a real pytest process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SUITE = """
import pytest
from cqt.gate.plugin import record_evidence
from cqt.gate.verdict import GateFailure, Pending

def scenario(doc):
    def deco(fn):
        fn.__doc__ = doc
        return fn
    return deco

@scenario("ALT-6 runtime gate: ALT-6.1 Every Python source file compiles")
def test_pass(request):
    record_evidence(request.node, "12 files compiled")

@scenario("ALT-6 runtime gate: ALT-6.5 DB_CONNECT_OK")
def test_pending():
    pytest.skip(str(Pending("database", "database unreachable: refused")))

@scenario("ALT-6 runtime gate: ALT-6.3 No SQL")
def test_fail():
    raise GateFailure("cqt/x.py:2: SQL built by an f-string")

@scenario("ALT-6 runtime gate: ALT-6.4 gitignore")
def test_pass_without_evidence():
    pass

@scenario("ALT-5 24 h operation and dataset: ALT-5.2 The bot ran 24 h")
def test_plain_skip():
    pytest.skip("no reason given")

@scenario("ALT-5 24 h operation and dataset: ALT-5.3 dashboard")
def test_setup_error(missing_fixture):
    pass
"""


def test_each_outcome_becomes_the_right_result(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    results = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "cqt.gate.plugin", "-p", "no:cacheprovider", "-o", "addopts=",
         str(tmp_path / "test_suite.py")],
        cwd=tmp_path, env={**os.environ, "CQT_GATE_RESULTS": str(results)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    got = {r["item"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert set(got) == {"ALT-6.1", "ALT-6.5", "ALT-6.3", "ALT-6.4", "ALT-5.2", "ALT-5.3"}, proc.stdout
    assert (got["ALT-6.1"]["status"], got["ALT-6.1"]["evidence"]) == ("PASS", "12 files compiled")
    assert (got["ALT-6.5"]["status"], got["ALT-6.5"]["precondition"], got["ALT-6.5"]["evidence"]) == (
        "PENDING",
        "database",
        "database unreachable: refused",
    )
    assert (got["ALT-6.3"]["status"], got["ALT-6.3"]["evidence"]) == (
        "FAIL",
        "cqt/x.py:2: SQL built by an f-string",
    )
    assert (
        got["ALT-6.4"]["status"] == "FAIL" and "without recording any evidence" in got["ALT-6.4"]["evidence"]
    )
    assert (
        got["ALT-5.2"]["status"] == "FAIL"
        and "skipped without a stated precondition" in got["ALT-5.2"]["evidence"]
    )
    assert got["ALT-5.3"]["status"] == "FAIL" and got["ALT-5.3"]["evidence"].startswith("error in setup: ")
