"""Pipeline checks as gate evidence: `run_pipeline_checks.sh --window N` decides, the four
`python -m cqt.checks.<name> --window N --json` documents say why (per-module results for the record)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqt.gate.commands import CHECK_MODULES, PIPELINE_CHECKS, Completed, check_module, run
from cqt.gate.items import GUIDES
from cqt.gate.verdict import GateFailure

CHECK_TIMEOUT_S = 1_800.0


@dataclass(frozen=True)
class ModuleResult:
    """One diagnostic's verdict over the window, or why there is none."""

    module: str
    status: str
    summary: str

    def line(self) -> str:
        """`leak PASS (12 measurements ok)`."""
        return f"{self.module} {self.status} ({self.summary})"


@dataclass(frozen=True)
class PipelineRun:
    """The script's run (or why it could not start) and the per-module documents."""

    window_s: int
    script: Completed | str
    modules: list[ModuleResult]

    def per_module(self) -> str:
        """One clause per module."""
        return "; ".join(m.line() for m in self.modules)


def _brief(measurement: dict[str, Any]) -> str:
    value, threshold = measurement.get("value"), measurement.get("threshold")
    unit = f" {measurement['unit']}" if measurement.get("unit") else ""
    bound = f" {measurement.get('op', 'vs')} {threshold}" if threshold is not None else ""
    detail = f" [{measurement['detail']}]" if measurement.get("detail") else ""
    return f"{measurement.get('name')} = {value}{unit}{bound}{detail}"


def module_result(module: str, done: Completed | str) -> ModuleResult:
    """Interpret one `--json` run."""
    if isinstance(done, str):
        return ModuleResult(module, "MISSING", done)
    try:
        doc = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or doc.get("status") not in ("PASS", "FAIL", "ERROR"):
        return ModuleResult(module, "UNREADABLE", f"{done.outcome()}, no JSON document: {done.tail(3)}")
    measurements: list[dict[str, Any]] = doc.get("measurements") or []
    if doc["status"] == "ERROR":
        return ModuleResult(module, "ERROR", str(doc.get("error") or done.tail(3)))
    failed = [m for m in measurements if not m.get("ok")]
    if failed:
        return ModuleResult(
            module,
            doc["status"],
            f"{len(failed)} of {len(measurements)} failed: " + "; ".join(map(_brief, failed[:5])),
        )
    return ModuleResult(module, doc["status"], f"{len(measurements)} measurements ok")


def run_pipeline(root: Path, window_s: int, env: dict[str, str] | None = None) -> PipelineRun:
    """Run the script and the four modules over the same window (in parallel: they only read)."""

    def script() -> Completed | str:
        missing = PIPELINE_CHECKS.missing(root)
        return missing or run(PIPELINE_CHECKS.argv("--window", str(window_s)), root, CHECK_TIMEOUT_S, env)

    def module(name: str) -> ModuleResult:
        entry = check_module(name)
        missing = entry.missing(root)
        done = missing or run(entry.argv("--window", str(window_s), "--json"), root, CHECK_TIMEOUT_S, env)
        return module_result(name, done)

    with ThreadPoolExecutor(max_workers=len(CHECK_MODULES) + 1) as pool:
        script_done = pool.submit(script)
        modules = list(pool.map(module, CHECK_MODULES))
        return PipelineRun(window_s, script_done.result(), modules)


def judge_pipeline(result: PipelineRun) -> str:
    """PASS evidence, or GateFailure with the failing modules and their guides."""
    done = result.script
    if isinstance(done, str):
        raise GateFailure(f"{done} — {GUIDES['entrypoint']}; modules: {result.per_module()}")
    bad = [m for m in result.modules if m.status != "PASS"]
    guides = " / ".join(GUIDES[m.module] for m in bad if m.module in GUIDES)
    if done.code != 0:
        what = "could not run" if done.code == 2 else "failed"
        raise GateFailure(
            f"`{done.shown}` {what} ({done.outcome()}): {result.per_module()}; script said: {done.tail(4)}"
            + (f" — {guides}" if guides else "")
        )
    if bad:
        raise GateFailure(
            f"`{done.shown}` exited 0 but the modules disagree: {result.per_module()} — {guides}"
        )
    return f"`{done.shown}` exit 0 in {done.elapsed_s:.1f} s; {result.per_module()}"


def audit_dataset(root: Path, dataset: Path, window_s: int) -> ModuleResult:
    """The leak check with `--dataset`: the file's labels and features re-checked against the database."""
    entry = check_module("leak")
    missing = entry.missing(root)
    args = ("--window", str(window_s), "--dataset", str(dataset), "--json")
    return module_result("leak", missing or run(entry.argv(*args), root, CHECK_TIMEOUT_S))


def judge_audit(result: ModuleResult, dataset: Path) -> str:
    """PASS evidence of a dataset audit, or GateFailure with the leak guide."""
    if result.status != "PASS":
        raise GateFailure(f"leak audit of {dataset}: {result.line()} — {GUIDES['leak']}")
    return f"leak audit of {dataset}: {result.line()}"
