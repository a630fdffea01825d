"""The runtime install (`pip install .`, no extras) has no test tools: nothing a user runs may import them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cqt.db import embedded
from tests.settings_env import clean_environ

# Run before the code under test: every dev-only top-level package becomes "not installed".
BLOCK_DEV_PACKAGES = """
import importlib.abc, sys
DEV = {"pytest", "_pytest", "pytest_bdd", "allure", "allure_commons", "allure_pytest_bdd", "hypothesis",
       "playwright", "pytest_asyncio", "pytest_timeout"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in DEV:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_DEV_PACKAGES + code],
        cwd=cwd, env=clean_environ(), text=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_cli_and_bot_import_without_dev_packages(tmp_path: Path) -> None:
    try:
        proc = _run("import cqt.cli, cqt.bot.daemon, cqt.dashboard.app, cqt.export.dataset", tmp_path)
    finally:
        # the dashboard's page runs on import and starts the embedded server under ./data/pg
        embedded.stop(tmp_path / "data" / "pg")
    assert proc.returncode == 0, proc.stderr


def test_help_works_without_dev_packages(tmp_path: Path) -> None:
    proc = _run("import sys; sys.argv = ['cqt', '--help']\nfrom cqt.cli import main\nmain()", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gate" in proc.stdout and "export" in proc.stdout


def test_gate_without_dev_packages_exits_2_with_the_install_hint(tmp_path: Path) -> None:
    proc = _run("import sys; sys.argv = ['cqt', 'gate']\nfrom cqt.cli import main\nmain()", tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'pip install -e ".[dev]"' in proc.stderr
    assert "Traceback" not in proc.stderr
