"""`cqt gate` end to end without a database: runtime gates PENDING with the reason, exit 0 (1 with --strict)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cqt.gate.items import ITEMS

RUNTIME = [i.id for i in ITEMS if i.report == "ALT-5" or i.section == "Runtime"]


@pytest.mark.parametrize("strict", [False, True])
def test_database_unreachable_leaves_runtime_gates_pending(tmp_path: Path, strict: bool) -> None:
    env = {**os.environ, "DB_URL": "postgresql://gate@127.0.0.1:1/nowhere", "DB_CONNECT_TIMEOUT_S": "1"}
    argv = [sys.executable, "-m", "cqt", "gate", "--profile", "deployment", "--reports", str(tmp_path)]
    proc = subprocess.run(
        argv + (["--strict"] if strict else []), env=env, capture_output=True, text=True, check=False
    )
    doc = json.loads((tmp_path / "gate.json").read_text())
    by_id = {i["id"]: i for i in doc["items"]}
    for item in RUNTIME:
        assert by_id[item]["result"] == "PENDING", by_id[item]
        assert by_id[item]["precondition"] == "database"
        assert by_id[item]["evidence"].startswith("database unreachable: "), by_id[item]
    static_failed = any(by_id[i.id]["result"] == "FAIL" for i in ITEMS if i.section == "Static")
    assert proc.returncode == (1 if strict or static_failed else 0), proc.stdout[-2000:]
    assert doc["exit_code"] == proc.returncode
    assert (
        (tmp_path / "ALT-5.md").is_file()
        and (tmp_path / "ALT-6.md").is_file()
        and (tmp_path / "gate.md").is_file()
    )
    assert list((tmp_path / "allure-results").glob("*-result.json")), "no Allure results"
