"""The export gates (ALT-6 item 10, ALT-5 items 5-6) read back what was written, and can FAIL."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cqt.gate import datasets, exports
from cqt.gate.commands import Completed
from cqt.gate.items import GUIDES
from cqt.gate.profiles import DEPLOYMENT
from cqt.gate.runner import project_root
from cqt.gate.verdict import GateFailure
from tests.gate.datasets import write_dataset

ROOT = project_root()


def done(code: int = 0) -> Completed:
    return Completed(("python", "scripts/export_dataset.py"), code, "rows 0", "", 0.5)


def test_an_empty_export_of_an_empty_database_fails_the_export_gate(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_URL", db)
    output = tmp_path / "btc_1h.parquet"
    started = time.time()
    ran = exports.export(ROOT, output, 120, "1h", "live")
    with pytest.raises(GateFailure) as failed:
        exports.judge_export(ROOT, ran, output, started)
    assert GUIDES["export"] in str(failed.value), (ran.outcome(), ran.tail())


def test_a_written_dataset_reads_back_with_its_metadata(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "btc_1h.parquet", rows=30)
    written = exports.judge_export(tmp_path, done(), Path("btc_1h.parquet"), time.time() - 5)
    assert (written.rows, written.files, written.dropped("end_of_data")) == (30, 1, 24)
    assert written.size_bytes == path.stat().st_size
    assert (
        "30 rows; dropped: end_of_data 24, label_ts_violation 0; labels: UP 10 (33.3 %)" in written.describe()
    )
    assert datasets.violation_drops(written, DEPLOYMENT).startswith(
        "label_ts violations dropped: 0 of 30 rows"
    )


def test_zero_rows_stale_files_and_garbage_fail(tmp_path: Path) -> None:
    write_dataset(tmp_path / "empty.parquet", rows=0)
    with pytest.raises(
        GateFailure, match=r"empty.parquet has 0 rows .*end_of_data 24.* — empty export: run the bot longer"
    ):
        exports.judge_export(tmp_path, done(), Path("empty.parquet"), time.time() - 5)

    old = write_dataset(tmp_path / "old.parquet", rows=10)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    with pytest.raises(GateFailure, match="old.parquet was not written by this run"):
        exports.judge_export(tmp_path, done(), Path("old.parquet"), time.time() - 5)

    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(GateFailure, match="junk.parquet is not a readable Parquet dataset"):
        exports.judge_export(tmp_path, done(), Path("junk.parquet"), time.time() - 5)

    with pytest.raises(GateFailure, match="exit 2 after 0.5 s: rows 0 — empty export: run the bot longer"):
        exports.judge_export(tmp_path, done(2), Path("x.parquet"), time.time())
    with pytest.raises(GateFailure, match="entry point missing: scripts/export_dataset.py does not exist"):
        exports.judge_export(
            tmp_path, "entry point missing: scripts/export_dataset.py does not exist", Path("x"), 0
        )


def test_label_ts_violations_beyond_one_in_a_thousand_fail(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a.parquet", rows=998, violations=2)
    written = exports.read_export(tmp_path / "a.parquet")
    with pytest.raises(GateFailure, match=r"2 rows \(0.20 % > 0.1 %\) dropped for label_ts < t0 \+ horizon"):
        datasets.violation_drops(written, DEPLOYMENT)
    write_dataset(tmp_path / "b.parquet", rows=999, violations=1)
    assert "1 of 1000 rows (0.100 %)" in datasets.violation_drops(
        exports.read_export(tmp_path / "b.parquet"), DEPLOYMENT
    )


def test_a_day_partitioned_directory_adds_up(tmp_path: Path) -> None:
    for day, rows in (("2026-01-01", 10), ("2026-01-02", 7)):
        (tmp_path / f"date={day}").mkdir()
        write_dataset(tmp_path / f"date={day}" / "part.parquet", rows=rows)
    written = exports.read_export(tmp_path)
    assert (written.files, written.rows, written.dropped("end_of_data")) == (2, 17, 48)
