"""`cqt gate`: the ALT-5 / ALT-6 acceptance gates -> reports/gate.md, gate.json, ALT-5.md, ALT-6.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from cqt.cli.common import SourceOption, fail, settings_or_exit
from cqt.gate.local_run import local_profile_note
from cqt.gate.matrix import summary_text
from cqt.gate.profiles import PROFILES
from cqt.gate.runner import SuiteMissing, project_root, run_gate

# The gate suite runs under these (the dev extras); the runtime install has none of them.
GATE_TOOLS = ("pytest", "pytest_bdd", "allure_pytest_bdd")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed install counts as absent
        return False


def gate(
    profile: Annotated[
        str,
        typer.Option(
            help="deployment: judge the evidence recorded in the configured database against the real ALT"
            f" durations; local: start a database, the simulator and the bot for a short run and judge it"
            f" ({local_profile_note()})."
        ),
    ] = "deployment",
    strict: Annotated[bool, typer.Option(help="Also exit 1 when a gate is PENDING.")] = False,
    reports: Annotated[
        Path | None, typer.Option(help="Where the reports go (default: reports/ of the checkout).")
    ] = None,
    source: SourceOption = "live",
) -> None:
    """Run the gates; exit 0 unless a gate FAILs (--strict: or is PENDING). Reports go to reports/."""
    missing = [name for name in GATE_TOOLS if not _installed(name)]
    if missing:
        fail(
            f"cqt gate runs its suite under pytest-bdd and needs the test tools ({', '.join(missing)} missing):"
            ' pip install -e ".[dev]"'
        )
    if profile not in PROFILES:
        fail(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    out = (reports or project_root() / "reports").resolve()
    try:
        sim = settings_or_exit("sim") if source == "sim" else None
        code, rows = run_gate(profile, strict, out_dir=out, sim_settings=sim)
    except SuiteMissing as exc:
        fail(str(exc))
    typer.echo(f"gate ({profile}{', strict' if strict else ''}): {summary_text(rows)}")
    for row in rows:
        if row.result.status != "PASS":
            typer.echo(
                f"  {row.result.status:<7} {row.item.id} {row.item.title}: {row.result.evidence[:300]}"
            )
    typer.echo(f"wrote {out / 'gate.md'}, {out / 'gate.json'}, {out / 'ALT-5.md'}, {out / 'ALT-6.md'}")
    typer.echo(
        f"Allure results in {out / 'allure-results'}; HTML: npx allure generate {out / 'allure-results'}"
        f" -o {out / 'allure-report'}"
    )
    raise typer.Exit(code)
