"""The project's entry points as the gates start them, and one way to run a command and keep its output."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

CHECK_MODULES = ("altdata", "feature", "leak", "coinglass")
PIPELINE_SCRIPT = Path("scripts/run_pipeline_checks.sh")
EXPORT_SCRIPT = Path("scripts/export_dataset.py")


@dataclass(frozen=True)
class Completed:
    """A finished (or timed-out) command."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def shown(self) -> str:
        """The command line as a user would type it."""
        return " ".join(Path(a).name if a == sys.executable else a for a in self.argv)

    def tail(self, lines: int = 6) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for messages."""
        text = self.stderr.strip() or self.stdout.strip()
        return " | ".join(text.splitlines()[-lines:])

    def outcome(self) -> str:
        """`exit N after S s` or `timed out after S s`."""
        if self.code is None:
            return f"timed out after {self.elapsed_s:.0f} s"
        return f"exit {self.code} after {self.elapsed_s:.1f} s"


def run(argv: Sequence[str], root: Path, timeout_s: float, env: Mapping[str, str] | None = None) -> Completed:
    """Run `argv` in `root` with the environment (plus `env`); never raises for the command's own failure."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            cwd=root,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Completed(tuple(argv), None, _text(exc.stdout), _text(exc.stderr), time.monotonic() - started)
    except OSError as exc:  # not executable, bad interpreter
        return Completed(tuple(argv), 126, "", str(exc), time.monotonic() - started)
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def cqt_subcommands(path: Sequence[str]) -> bool:
    """True when `cqt <path...>` is a registered command of the CLI."""
    from cqt.cli import app

    command: object = typer.main.get_command(app)
    for name in path:
        # typer's groups are not click.Group instances in every typer release; both keep `.commands`
        children = getattr(command, "commands", None)
        if not isinstance(children, dict) or name not in children:
            return False
        command = children[name]
    return True


@dataclass(frozen=True)
class EntryPoint:
    """A command the ALT-6 item 2 gate requires; exactly one of module, script or subcommand locates it."""

    name: str
    module: str | None = None
    script: Path | None = None
    subcommand: tuple[str, ...] = ()

    def argv(self, *args: str) -> list[str]:
        """The command line with `args` appended."""
        if self.module is not None:
            return [sys.executable, "-m", self.module, *args]
        if self.script is not None:
            if self.script.suffix == ".py":
                return [sys.executable, str(self.script), *args]
            return [str(Path(".") / self.script), *args]
        return [sys.executable, "-m", "cqt", *self.subcommand, *args]

    def missing(self, root: Path) -> str | None:
        """Why the entry point does not exist (None when it does)."""
        if self.module is not None:
            try:
                found = importlib.util.find_spec(self.module) is not None
            except ModuleNotFoundError:
                found = False
            return None if found else f"entry point missing: module {self.module} not found"
        if self.script is not None:
            path = root / self.script
            if not path.is_file():
                return f"entry point missing: {self.script} does not exist"
            if path.suffix != ".py" and not os.access(path, os.X_OK):
                return f"entry point missing: {self.script} is not executable (chmod +x)"
            return None
        if not cqt_subcommands(self.subcommand):
            return f"entry point missing: `cqt {' '.join(self.subcommand)}` is not a command of the cqt CLI"
        return None


DASHBOARD = EntryPoint("dashboard (cqt dashboard)", subcommand=("dashboard",))
EXPORT = EntryPoint("dataset export (scripts/export_dataset.py)", script=EXPORT_SCRIPT)
PIPELINE_CHECKS = EntryPoint("pipeline check script (scripts/run_pipeline_checks.sh)", script=PIPELINE_SCRIPT)
LABELS_STUDY = EntryPoint("label study (cqt labels study)", subcommand=("labels", "study"))

ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint("bot daemon (python -m cqt.bot)", module="cqt.bot"),
    DASHBOARD,
    *(
        EntryPoint(f"{m} diagnostic (python -m cqt.checks.{m})", module=f"cqt.checks.{m}")
        for m in CHECK_MODULES
    ),
    EXPORT,
    EntryPoint("environment/key activation (cqt env init)", subcommand=("env", "init")),
    PIPELINE_CHECKS,
)


def check_module(name: str) -> EntryPoint:
    """The entry point of one diagnostic."""
    return next(e for e in ENTRY_POINTS if e.module == f"cqt.checks.{name}")
