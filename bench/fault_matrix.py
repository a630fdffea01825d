"""The fault matrix: run the nothing-lost tests and tabulate what each fault case stored against what the
simulator sent (a reliability report, not a speed benchmark).

    python bench/fault_matrix.py                 # every fault test below, then the markdown table
    python bench/fault_matrix.py -k neighbours   # pytest's -k, to run some of them

Every fault test ends with `tests.ledger_check.check_trades`, which appends one JSON line per shard to
the file named by CQT_FAULT_MATRIX; this script sets it, runs pytest, and prints one row per case and
shard: trades the simulator sent in the stored span, stored, missing, unknown, duplicated. A failed test
still leaves its rows (the comparison is recorded before it is asserted), and the exit code is pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAULT_TESTS = (
    "tests/collect/test_collection.py",
    "tests/collect/test_stalls.py",
    "tests/bot/test_restart_continuity.py",
    "tests/bot/test_shutdown_bound.py",
    "tests/bot/test_neighbours.py",
    "tests/store/test_spool_failures.py",
)


def table(lines: list[str]) -> str:
    rows = [
        "| fault | shard | sent | stored | missing | unknown | duplicated |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        c = json.loads(line)
        rows.append(
            f"| {c['case']} | {c['exchange']} {c['symbol']} | {c['sent']} | {c['stored']} | {c['missing']}"
            f" | {c['unknown']} | {c['duplicated']} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", help="pytest -k expression selecting the fault tests to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        matrix = Path(tmp) / "matrix.jsonl"
        # its own basetemp: pytest's default one is shared with, and pruned under, any other pytest run
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp}/pytest",
                   *FAULT_TESTS]  # fmt: skip
        if args.k:
            command += ["-k", args.k]
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, "CQT_FAULT_MATRIX": str(matrix)})
        lines = matrix.read_text(encoding="utf-8").splitlines() if matrix.exists() else []
    print(table(lines) if lines else "no fault case recorded a comparison")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
