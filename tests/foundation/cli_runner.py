"""Run the installed `cqt` command line in a subprocess, in a chosen directory and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Settings a developer may have exported; tests must not inherit them.
_SETTING_PREFIXES = ("DB_", "PG_", "UPBIT_", "BINANCE_", "COINGLASS_", "LOG_LEVEL")


def run_cqt(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m cqt ARGS` with a clean settings environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cqt", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
