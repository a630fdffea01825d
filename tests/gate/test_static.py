"""ALT-6 items 1, 2, 4 against planted checkouts: each can FAIL, and says what it saw."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cqt.gate.commands import EntryPoint
from cqt.gate.static import compile_all, entry_points, gitignore
from cqt.gate.verdict import GateFailure, Pending


def test_compile_fails_on_a_syntax_error_and_skips_runtime_trees(tmp_path: Path) -> None:
    (tmp_path / "cqt").mkdir()
    (tmp_path / "cqt" / "good.py").write_text("x = 1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "junk.py").write_text("def (:\n")  # runtime tree: not project source
    assert compile_all(tmp_path) == "1 Python files compiled without error"
    (tmp_path / "cqt" / "bad.py").write_text("def f(:\n    pass\n")
    with pytest.raises(GateFailure, match=r"1 of 2 Python files do not compile: cqt/bad.py:1: SyntaxError"):
        compile_all(tmp_path)
    assert not list(tmp_path.rglob("*.pyc"))


def test_entry_points_fail_when_missing_or_not_starting(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    good = scripts / "good.sh"
    good.write_text('#!/bin/sh\n[ "$1" = --help ] && echo usage && exit 0\nexit 3\n')
    good.chmod(0o755)
    broken = scripts / "broken.sh"
    broken.write_text("#!/bin/sh\necho 'cannot start: no settings' >&2\nexit 1\n")
    broken.chmod(0o755)
    entries = (
        EntryPoint("good", script=Path("scripts/good.sh")),
        EntryPoint("absent", script=Path("scripts/run_pipeline_checks.sh")),
        EntryPoint("broken", script=Path("scripts/broken.sh")),
        EntryPoint("no module", module="cqt.checks.nonexistent"),
        EntryPoint("no subcommand", subcommand=("no-such-command",)),
    )
    with pytest.raises(GateFailure) as failed:
        entry_points(tmp_path, entries)
    text = str(failed.value)
    assert text.startswith("4 of 5 entry points fail")
    assert "absent: entry point missing: scripts/run_pipeline_checks.sh does not exist" in text
    assert "broken: `scripts/broken.sh --help` exit 1" in text and "cannot start: no settings" in text
    assert "no module: entry point missing: module cqt.checks.nonexistent not found" in text
    assert "no subcommand: entry point missing: `cqt no-such-command`" in text
    assert "good" not in text.split(" — ")[0].replace("4 of 5", "")
    assert entry_points(tmp_path, entries[:1]) == "1 entry points start with --help and exit 0: good"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_gitignore_gate(tmp_path: Path) -> None:
    with pytest.raises(Pending, match="not a git checkout"):
        gitignore(tmp_path)
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text(".env\n.env.bak*\ndata/datasets/*\n")
    with pytest.raises(GateFailure, match=r"not ignored by .gitignore: logs/bot.log; tracked .*: none"):
        gitignore(tmp_path)
    (tmp_path / ".gitignore").write_text(".env\n.env.bak*\ndata/datasets/*\nlogs/\n")
    assert gitignore(tmp_path).startswith("git check-ignore ignores .env, ")
    (tmp_path / ".env").write_text("COINGLASS_API_KEY=x\n")
    _git(tmp_path, "add", "-f", ".env")
    with pytest.raises(
        GateFailure, match=r"not ignored by .gitignore: \.env; tracked although they must not be: \.env"
    ):
        gitignore(tmp_path)
