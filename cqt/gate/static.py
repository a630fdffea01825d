"""ALT-6 items 1-4: the gates that hold (or not) on any checkout, no database needed."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cqt.gate.commands import ENTRY_POINTS, EntryPoint, run
from cqt.gate.items import GUIDES
from cqt.gate.sql_scan import scan_tree
from cqt.gate.verdict import GateFailure, Pending

# Generated, vendored or runtime trees: not the project's Python source.
SKIP_DIRS = {".git", "target", "node_modules", "data", "reports", "logs", ".venv", "venv", "build", "dist"}
IGNORED_PATHS = (".env", ".env.bak.20250101T000000Z", "data/datasets/btc_1h.parquet", "logs/bot.log")
HELP_TIMEOUT_S = 90.0


def python_sources(root: Path) -> list[Path]:
    """Every .py file of the checkout outside generated and runtime trees."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if not any(p in SKIP_DIRS or (p.startswith(".") and p != ".") for p in parts[:-1]):
            found.append(path)
    return found


def compile_all(root: Path) -> str:
    """Item 1: compile every source file (in memory: no .pyc is written into the checkout)."""
    files = python_sources(root)
    errors = []
    for path in files:
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            errors.append(
                f"{path.relative_to(root)}:{line}: {type(exc).__name__}: {getattr(exc, 'msg', exc)}"
            )
    if errors:
        raise GateFailure(f"{len(errors)} of {len(files)} Python files do not compile: " + "; ".join(errors))
    return f"{len(files)} Python files compiled without error"


def _start(entry: EntryPoint, root: Path) -> str | None:
    """None when the entry point starts with --help and exits 0, else why not."""
    missing = entry.missing(root)
    if missing is not None:
        return missing
    done = run(entry.argv("--help"), root, HELP_TIMEOUT_S)
    if done.code != 0:
        return f"`{done.shown}` {done.outcome()}: {done.tail(3)}"
    return None


def entry_points(root: Path, entries: tuple[EntryPoint, ...] = ENTRY_POINTS) -> str:
    """Item 2: each required entry point exists and answers --help with exit 0."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = list(pool.map(lambda e: _start(e, root), entries))
    bad = [f"{e.name}: {p}" for e, p in zip(entries, problems, strict=True) if p is not None]
    if bad:
        raise GateFailure(
            f"{len(bad)} of {len(entries)} entry points fail: "
            + "; ".join(bad)
            + f" — {GUIDES['entrypoint']}"
        )
    return f"{len(entries)} entry points start with --help and exit 0: " + ", ".join(e.name for e in entries)


def sql_interpolation(root: Path) -> str:
    """Item 3: no SQL text is assembled from values in the package."""
    scanned, findings = scan_tree(root)
    if findings:
        raise GateFailure(
            f"{len(findings)} SQL string(s) built by interpolation in cqt/: "
            + "; ".join(map(str, findings))
            + " — pass values as query parameters (windows: make_interval(secs => %s)), identifiers with"
            " psycopg.sql.Identifier"
        )
    return f"{scanned} modules of cqt/ scanned (f-string, %, .format(), + building SQL text): none found"


def gitignore(root: Path) -> str:
    """Item 4: git ignores the secrets and runtime paths, and none of them is tracked."""
    try:
        probe = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        raise Pending("git", "git is not installed, so .gitignore cannot be evaluated") from None
    if probe.returncode != 0:
        raise Pending("git checkout", f"{root} is not a git checkout: {probe.stderr.strip()}")
    not_ignored = [
        path
        for path in IGNORED_PATHS
        if subprocess.run(["git", "-C", str(root), "check-ignore", "-q", path], check=False).returncode != 0
    ]
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--", ".env", ".env.bak*", "data/datasets", "logs"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    tracked = [t for t in tracked if t != "data/datasets/.gitkeep"]
    if not_ignored or tracked:
        raise GateFailure(
            f"not ignored by .gitignore: {', '.join(not_ignored) or 'none'}; tracked although they must not be:"
            f" {', '.join(tracked) or 'none'} — add the patterns .env, .env.bak*, data/datasets/*, logs/ and"
            " `git rm --cached` tracked files"
        )
    return f"git check-ignore ignores {', '.join(IGNORED_PATHS)}; none of them is tracked"
