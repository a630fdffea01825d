"""The matrix and the ALT reports are built from results: every item listed, cells escaped, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from cqt.gate.items import ITEMS
from cqt.gate.matrix import RunInfo, exit_code, rows_of, write_all
from cqt.gate.verdict import GateResult

INFO = RunInfo("local", "2026-11-21 00:00:00 UTC", "cqt gate --profile local")


def test_an_item_without_a_result_is_a_failure_and_every_item_is_listed() -> None:
    rows = rows_of([GateResult("ALT-6.1", "PASS", "205 files")])
    assert [r.item.id for r in rows] == [i.id for i in ITEMS]
    assert len(rows) == 19
    missing = next(r for r in rows if r.item.id == "ALT-6.2")
    assert missing.result.status == "FAIL" and "did not run" in missing.result.evidence


def test_exit_code_fails_on_fail_and_with_strict_on_pending() -> None:
    everything = [GateResult(i.id, "PASS", "seen") for i in ITEMS]
    assert exit_code(rows_of(everything), strict=True) == 0
    pending = [*everything[:-1], GateResult(ITEMS[-1].id, "PENDING", "no db", "database")]
    assert (exit_code(rows_of(pending), strict=False), exit_code(rows_of(pending), strict=True)) == (0, 1)
    failing = [*everything[:-1], GateResult(ITEMS[-1].id, "FAIL", "broken")]
    assert exit_code(rows_of(failing), strict=False) == 1


def test_reports_are_written_with_escaped_cells_and_the_dashboard_shape(tmp_path: Path) -> None:
    results = [
        GateResult(
            "ALT-6.7", "PENDING", "only 62 s of the required 600 s | run 3\nstill running", "bot run time"
        ),
        GateResult("ALT-6.3", "FAIL", "cqt/x.py:2: SQL built by an f-string"),
        GateResult("ALT-5.8", "PASS", "run 3: start ..."),
    ]
    code = write_all(tmp_path, rows_of(results), INFO, strict=False)
    assert code == 1
    matrix = (tmp_path / "gate.md").read_text()
    assert "| item | required evidence | result | evidence seen |" in matrix
    line = next(x for x in matrix.splitlines() if "**ALT-6.7**" in x)
    assert line.count(" | ") == 3  # the | inside the evidence is escaped, the newline is a <br>
    assert (
        "⏳ PENDING | missing precondition: bot run time — only 62 s of the required 600 s \\| run 3<br>still running"
        in line
    )
    doc = json.loads((tmp_path / "gate.json").read_text())
    assert next(iter(doc)) == "items"
    assert doc["summary"] == {"PASS": 1, "PENDING": 1, "FAIL": 17} and doc["exit_code"] == 1
    item = next(i for i in doc["items"] if i["id"] == "ALT-6.7")
    assert (item["result"], item["precondition"], item["title"]) == (
        "PENDING",
        "bot run time",
        "The bot has run at least 10 minutes continuously",
    )
    alt6 = (tmp_path / "ALT-6.md").read_text()
    assert alt6.startswith("# ALT-6 — runtime gate")
    assert "## Static" in alt6 and "## Runtime" in alt6
    assert (
        "| 3 | No SQL is built by string interpolation of values | ❌ FAIL | cqt/x.py:2: SQL built by an f-string |"
        in alt6
    )
    assert "**ALT-6 does not pass: 9 gate(s) FAIL (ALT-6.1, ALT-6.2, ALT-6.3," in alt6
    alt5 = (tmp_path / "ALT-5.md").read_text()
    assert "| 8 | Operations record of the run | ✅ PASS | run 3: start ... |" in alt5
    assert "## Next steps (later milestones)" in alt5 and "(ML-2)" in alt5
