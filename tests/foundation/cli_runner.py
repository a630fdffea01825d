"""Run the installed `cqt` command line in a subprocess, in a chosen directory and environment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.settings_env import clean_environ


def run_cqt(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m cqt ARGS` with a clean settings environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "cqt", *args],
        cwd=cwd,
        env=clean_environ(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
