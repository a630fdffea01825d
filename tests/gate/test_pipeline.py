"""The pipeline-check gates: the leak audit fails on a planted leak; module documents are read as evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqt.gate import pipeline, runtime
from cqt.gate.commands import Completed
from cqt.gate.evidence import RunSpan
from cqt.gate.items import GUIDES
from cqt.gate.pipeline import ModuleResult, PipelineRun
from cqt.gate.profiles import DEPLOYMENT, LOCAL
from cqt.gate.runner import project_root
from cqt.gate.verdict import GateFailure, Pending
from tests.gate.datasets import write_dataset

ROOT = project_root()


def test_a_planted_leak_fails_the_leak_gate(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_URL", db)
    leaky = write_dataset(tmp_path / "leaky.parquet", rows=12, label_after_s=60.0)  # label before t0 + H
    result = pipeline.audit_dataset(ROOT, leaky, 600)
    assert result.status == "FAIL", result.line()
    with pytest.raises(GateFailure) as failed:
        pipeline.judge_audit(result, leaky)
    assert "dataset label_before_horizon = 12" in str(failed.value)
    assert GUIDES["leak"] in str(failed.value)


def document(status: str, measurements: list[dict[str, object]], error: str | None = None) -> str:
    return json.dumps(
        {"check": "x", "status": status, "window_s": 600, "measurements": measurements, "error": error}
    )


def ran(code: int | None, stdout: str = "", stderr: str = "") -> Completed:
    return Completed(("scripts/run_pipeline_checks.sh", "--window", "600"), code, stdout, stderr, 3.0)


def test_module_documents_become_per_module_results() -> None:
    lag = {
        "name": "binance aggTrade lag",
        "value": 41.0,
        "threshold": 5.0,
        "op": "<=",
        "unit": "s",
        "ok": False,
        "detail": "",
    }
    fine = {"name": "fill", "value": 1.0, "threshold": 0.9, "op": ">=", "unit": "", "ok": True, "detail": ""}
    failed = pipeline.module_result("altdata", ran(1, document("FAIL", [lag, fine])))
    assert failed.line() == "altdata FAIL (1 of 2 failed: binance aggTrade lag = 41.0 s <= 5.0)"
    assert (
        pipeline.module_result("feature", ran(0, document("PASS", [fine]))).line()
        == "feature PASS (1 measurements ok)"
    )
    error = pipeline.module_result("leak", ran(2, document("ERROR", [], "database unreachable")))
    assert error.line() == "leak ERROR (database unreachable)"
    crashed = pipeline.module_result("coinglass", ran(1, "", "Traceback ...\nImportError: x"))
    assert crashed.status == "UNREADABLE" and "ImportError: x" in crashed.summary


def test_the_script_decides_and_disagreeing_modules_fail() -> None:
    passing = [ModuleResult(m, "PASS", "ok") for m in ("altdata", "feature", "leak", "coinglass")]
    assert pipeline.judge_pipeline(PipelineRun(600, ran(0), passing)).startswith(
        "`scripts/run_pipeline_checks.sh --window 600` exit 0 in 3.0 s; altdata PASS (ok)"
    )
    with pytest.raises(GateFailure, match=r"failed \(exit 1 after 3.0 s\).*" + GUIDES["altdata"][:20]):
        bad = [ModuleResult("altdata", "FAIL", "lag"), *passing[1:]]
        pipeline.judge_pipeline(PipelineRun(600, ran(1, "ALTDATA: FAIL"), bad))
    with pytest.raises(GateFailure, match="exited 0 but the modules disagree: .*leak FAIL"):
        pipeline.judge_pipeline(
            PipelineRun(600, ran(0), [*passing[:2], ModuleResult("leak", "FAIL", "x"), passing[3]])
        )
    with pytest.raises(GateFailure, match="could not run"):
        pipeline.judge_pipeline(PipelineRun(600, ran(2), passing))
    with pytest.raises(GateFailure, match="entry point missing: scripts/run_pipeline_checks.sh"):
        pipeline.judge_pipeline(
            PipelineRun(600, "entry point missing: scripts/run_pipeline_checks.sh does not exist", passing)
        )


def test_milestones_fail_before_they_wait(db: str) -> None:
    ok = PipelineRun(120, ran(0), [ModuleResult("leak", "PASS", "ok")])
    broken = PipelineRun(3600, ran(1), [ModuleResult("leak", "FAIL", "label_before_horizon = 3")])
    runs: list[RunSpan] = []
    with pytest.raises(Pending) as waiting:
        runtime.milestone_checks(runs, {120: ok}, LOCAL)
    assert waiting.value.reason.startswith("checks not yet due at +1 h, +24 h: no running bot")
    assert "+10 min: PASS" in waiting.value.reason
    with pytest.raises(GateFailure, match=r"^\+1 h: FAIL .*leak FAIL"):
        runtime.milestone_checks(runs, {600: ok, 3600: broken}, DEPLOYMENT)
