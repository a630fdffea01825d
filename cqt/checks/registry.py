"""The four pipeline checks by name, and running all of them (``cqt check all``)."""

from __future__ import annotations

from pathlib import Path

from cqt.checks import altdata, coinglass, feature, leak
from cqt.checks.result import CheckResult
from cqt.checks.run import CheckFn, execute
from cqt.config import Settings

CHECKS: dict[str, CheckFn] = {
    altdata.NAME: altdata.check,
    feature.NAME: feature.check,
    leak.NAME: leak.check,
    coinglass.NAME: coinglass.check,
}


def run_all(
    settings: Settings, window_s: int, symbol: str | None = None, dataset: Path | None = None
) -> list[CheckResult]:
    """Every check over the same window (each with its own database session and ``now``)."""
    return [
        execute(name, fn, settings, window_s, symbol, dataset if name == leak.NAME else None)
        for name, fn in CHECKS.items()
    ]


def overall(results: list[CheckResult]) -> tuple[str, int]:
    """``PIPELINE OVERALL: PASS|FAIL (...)`` and the exit code: 2 if any could not run, 1 if any failed."""
    bad = [r for r in results if r.status != "PASS"]
    line = "PIPELINE OVERALL: " + (
        "PASS" if not bad else "FAIL (" + ", ".join(f"{r.check} {r.status}" for r in bad) + ")"
    )
    code = max((r.exit_code for r in results), default=2)
    return line, code
