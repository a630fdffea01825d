"""An export names its source, its bot runs and its columns, refuses a range where another source's
runs wrote, and reports each day of a multi-day range.

The generated rows of `synth_db` span 23:30 to 00:30 UTC, so an export of them reads two day chunks.
Bot runs are inserted as the bot writes them: a live and a sim run on one database is what a user gets
by pointing DB_URL and SIM_DB_URL at one server.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from cqt.export import ExportError, ExportParams, export_dataset
from tests.conftest import REPO_ROOT
from tests.export import synth
from tests.export.recompute import contract
from tests.settings_env import bot_environ

PROGRESS = re.compile(r"^exported (\d{4}-\d\d-\d\d \d\d:\d\d): (\d+) rows, \d+ rows/s, ETA \d+m\d\ds$")


def _params(s: synth.Synth) -> ExportParams:
    return ExportParams("BTCUSDT", 60, "triple", "fixed:0.0005", 5, s.start, s.end, "baseline-v1")


def _add_run(db: str, source: str, start: datetime, stop: datetime | None) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "INSERT INTO bot_runs (started_at, heartbeat_at, stopped_at, stop_cause, source, symbols, host,"
            " pid, version) VALUES (%s, %s, %s, %s, %s, '{BTCUSDT}', 'test', 1, 'test') RETURNING run_id",
            (start, stop or start + timedelta(minutes=10), stop, "duration" if stop else None, source),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def runs(synth_db: tuple[str, synth.Synth]) -> Iterator[dict[str, int]]:
    """A live run over the first half of the data, a sim run that never stopped (heartbeat at +10 min)
    in the second half, and a sim run after the data."""
    db, s = synth_db
    mid = s.start + (s.end - s.start) / 2
    ids = {
        "live": _add_run(db, "live", s.start - timedelta(minutes=5), mid),
        "sim": _add_run(db, "sim", mid + timedelta(minutes=1), None),
        "later": _add_run(db, "sim", s.end + timedelta(hours=1), s.end + timedelta(hours=2)),
    }
    yield ids
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM bot_runs WHERE run_id = ANY(%s)", (list(ids.values()),))


def _export(db: str, params: ExportParams, out: Path, source: str) -> dict[str, object]:
    with psycopg.connect(db) as conn:
        export_dataset(conn, params, out, source=source)
    return contract(out)


def test_a_range_with_runs_of_both_sources_is_refused_for_either(
    synth_db: tuple[str, synth.Synth], runs: dict[str, int], tmp_path: Path
) -> None:
    db, s = synth_db
    for source, other in (("live", "sim"), ("sim", "live")):
        with pytest.raises(ExportError, match=rf"holds {other} bot runs in the range \(run {runs[other]}\)"):
            _export(db, _params(s), tmp_path / f"{source}.parquet", source)
        assert not (tmp_path / f"{source}.parquet").exists()


def test_metadata_names_the_source_and_the_runs_of_the_range(
    synth_db: tuple[str, synth.Synth], runs: dict[str, int], tmp_path: Path
) -> None:
    db, s = synth_db
    mid = s.start + (s.end - s.start) / 2
    live_half = ExportParams(**{**_params(s).__dict__, "end": mid})
    meta = _export(db, live_half, tmp_path / "live.parquet", "live")
    assert meta["source"] == "live" and meta["bot_runs"] == [runs["live"]]
    # a run that never stopped covers the range up to its last heartbeat, and only that
    sim_half = ExportParams(**{**_params(s).__dict__, "start": mid + timedelta(minutes=2)})
    meta = _export(db, sim_half, tmp_path / "sim.parquet", "sim")
    assert meta["source"] == "sim" and meta["bot_runs"] == [runs["sim"]]


def test_metadata_carries_an_entry_for_every_column(
    synth_db: tuple[str, synth.Synth], tmp_path: Path
) -> None:
    db, s = synth_db
    out = tmp_path / "all.parquet"
    meta = _export(db, _params(s), out, "live")
    assert meta["bot_runs"] == []  # generated rows: no bot wrote them
    columns = meta["columns"]
    assert isinstance(columns, dict)
    assert sorted(columns) == sorted(pq.read_schema(out).names)
    assert all(set(entry) == {"meaning", "unit"} and entry["meaning"] for entry in columns.values())
    assert columns["y"]["unit"] == "-1/0/1" and "-1 = DOWN, 0 = NONE, 1 = UP" in columns["y"]["meaning"]
    assert columns["bn_spread_bps"]["unit"].startswith("bps")
    assert columns["ub_close"]["meaning"].endswith("(carried from the previous close when it had no trade)")
    # synth stores metrics no collector writes: their entries say so instead of guessing a unit
    assert columns["bm_long_short_ratio"]["unit"] == "as stored"


def test_a_multi_day_export_reports_each_day_with_rate_and_eta(
    synth_db: tuple[str, synth.Synth], tmp_path: Path
) -> None:
    db, s = synth_db
    out = tmp_path / "days.parquet"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_dataset.py"), "--output", str(out),
         "--start", s.start.isoformat(), "--end", s.end.isoformat(), "--horizon", "60",
         "--r-policy", "fixed:0.0005"],
        cwd=tmp_path, env=bot_environ(tmp_path, db), text=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [PROGRESS.match(line) for line in done.stderr.splitlines() if line.startswith("exported ")]
    assert [m.group(1) if m else None for m in lines] == ["2026-01-01 23:30", "2026-01-02 00:00"]
    rows = sum(int(m.group(2)) for m in lines if m)
    assert rows == pq.read_metadata(out).num_rows > 0
    assert "exported " not in done.stdout  # stdout stays the summary table
