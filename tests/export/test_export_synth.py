"""Export of generated rows: features against the per-row SQL rule (with a backfilled metric), labels
against the Python reference with drops by reason (a gap bar, missing seconds, end of data, too little
history), byte-identical reruns, chunking independence and day partitions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from cqt.collect.rows import dt_to_ms
from cqt.export import ExportParams, ExportResult, export_dataset
from cqt.labels import DynamicThreshold
from tests.export import synth
from tests.export.labels_ref import reference_by_ts, same, stored_bars
from tests.export.recompute import contract, mismatches
from tests.kernels.kernel_reference import LabelSpec

H = 120
EVERY = 5


def params(s: synth.Synth, **kw: object) -> ExportParams:
    base = ExportParams(symbol="BTCUSDT", horizon_s=H, label="triple", r_policy="dynamic", every_s=EVERY,
                        start=s.start, end=s.end, model="baseline-v1")  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def run(db: str, p: ExportParams, out: Path, *, two_connections: bool = False, **kw: object) -> ExportResult:
    with psycopg.connect(db) as conn, psycopg.connect(db) as second:
        return export_dataset(conn, p, out, second_conn=second if two_connections else None, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def exported(
    synth_db: tuple[str, synth.Synth], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ExportResult]:
    db, s = synth_db
    out = tmp_path_factory.mktemp("synth") / "btc.parquet"
    return out, run(db, params(s), out)


def t0_seconds(path: Path) -> list[int]:
    base = dt_to_ms(synth.BASE)
    return [(dt_to_ms(t) - base) // 1000 for t in pq.read_table(path, columns=["t0"])["t0"].to_pylist()]


def test_features_equal_their_point_in_time_recomputation(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult]
) -> None:
    db, _ = synth_db
    path, result = exported
    n = pq.read_metadata(path).num_rows
    assert n == result.stats.rows > 500
    assert mismatches(db, path, rows=list(range(0, n, 9))) == []
    # the open-interest value of period 5 (ts 1800 s) arrives at 2500 s, after periods 6 and 7: it is
    # never the latest usable one; before period 6 arrives (2140 s) period 4 (ts 1500 s) is, until it
    # is older than the max age of 600 s
    by_s = dict(zip(t0_seconds(path), pq.read_table(path)["bm_open_interest"].to_pylist(), strict=True))
    assert by_s[1845] == by_s[2095] == 1e4 + 4
    assert by_s[2100] is None and by_s[2135] is None and by_s[2140] == 1e4 + 6
    assert by_s[2505] == 1e4 + 7
    meta = contract(path)
    features = [f["column"] for f in meta["features"]]
    non_features = ["t0", "symbol", "pred_p_up", "pred_p_down", "pred_p_none", "pred_r_t", "pred_created_at",
                    "y", "fwd_return", "r_t", "label_ts", "touch_ts", "ambiguous", "horizon_s"]  # fmt: skip
    assert sorted(pq.read_schema(path).names) == sorted(features + non_features)
    assert "cg_btc_oi_close" in features and "bm_long_short_ratio" in features


def test_labels_equal_the_reference_and_drops_are_counted_by_reason(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult]
) -> None:
    db, s = synth_db
    path, result = exported
    d = DynamicThreshold()
    spec = LabelSpec(horizon_s=H, kind="triple_barrier", r_fixed=None, window_s=d.window_s, min_returns=d.min_returns,
                     k=d.k, r_min=d.r_min, r_max=d.r_max, cost_mult=d.cost_mult, fee=d.fee, slippage=d.slippage)  # fmt: skip
    ref = reference_by_ts(stored_bars(db), spec)
    base = dt_to_ms(synth.BASE)
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        want = ref[dt_to_ms(row["t0"])]
        assert want["valid"]
        assert row["y"] == want["y"] and row["ambiguous"] == want["ambiguous"]
        assert same(row["fwd_return"], float(want["fwd_return"])) and same(row["r_t"], float(want["r_t"]))
        assert dt_to_ms(row["label_ts"]) == want["label_ts"] == dt_to_ms(row["t0"]) + H * 1000
        assert (dt_to_ms(row["touch_ts"]) if row["touch_ts"] else -1) == want["touch_ts"]
    grid = [t for t in ref if (t - base) % (EVERY * 1000) == 0 and dt_to_ms(s.start) <= t < dt_to_ms(s.end)]
    assert [dt_to_ms(r["t0"]) for r in rows] == [t for t in grid if ref[t]["valid"]]
    # drop reasons from the construction of the data
    secs = [(t - base) // 1000 for t in grid]
    gap = [t for t in secs if any(t <= g <= t + H for g in synth.GAP_S)]
    missing = [t for t in secs if t not in gap and any(t <= m <= t + H for m in synth.MISSING_S)]
    end = [t for t in secs if t + H > s.seconds]
    history = [t for t in secs if t <= 60]  # fewer than 60 one-second returns in (t0 - 600 s, t0]
    assert result.stats.dropped_by_reason() == {
        "end_of_data": len(end), "gap": len(gap), "missing_bars": len(missing), "no_threshold": len(history),
        "label_ts_violation": 0,
    }  # fmt: skip
    assert len(rows) + sum(result.stats.dropped.values()) == len(grid)
    dist = contract(path)["label_distribution"]
    assert dist == {
        name: sum(r["y"] == y for r in rows) for name, y in (("UP", 1), ("DOWN", -1), ("NONE", 0))
    }
    assert result.file_violations == 0


def test_a_horizon_crossing_a_gap_yields_no_row(exported: tuple[Path, ExportResult]) -> None:
    path, result = exported
    secs = set(t0_seconds(path))
    first_gap, last_gap = synth.GAP_S[0], synth.GAP_S[-1]
    assert not secs & set(range(first_gap - H, last_gap + 1))
    assert {first_gap - H - EVERY, last_gap + 1} <= secs  # the neighbours on both sides are labelled
    assert result.stats.dropped["gap"] == (last_gap - (first_gap - H)) // EVERY + 1


def test_predictions_join_on_t0(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult]
) -> None:
    path, _ = exported
    rows = pq.read_table(path).to_pylist()
    with_pred = [r for r in rows if r["pred_p_up"] is not None]
    assert with_pred and all((r["pred_created_at"] - r["t0"]) == timedelta(seconds=0.25) for r in with_pred)
    assert {(dt_to_ms(r["t0"]) - dt_to_ms(synth.BASE)) // 1000 % 15 for r in with_pred} == {1000 % 15}
    assert all(r["pred_p_none"] == 0.4 and r["pred_r_t"] == 0.001 for r in with_pred)


def without_created_at(path: Path) -> bytes:
    data = path.read_bytes()
    created = json.loads(pq.read_schema(path).metadata[b"cqt"])["created_at"].encode()
    assert data.count(created) == 1
    return data.replace(created, b"CREATED_AT")


def test_rerun_is_byte_identical_apart_from_created_at(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult], tmp_path: Path
) -> None:
    db, s = synth_db
    path, _ = exported
    again = tmp_path / "again.parquet"
    run(db, params(s), again)
    assert without_created_at(again) == without_created_at(path)
    # chunk boundaries change row groups, never rows or values
    hourly = tmp_path / "hourly.parquet"
    run(db, params(s), hourly, chunk_s=600)
    assert pq.read_metadata(hourly).num_row_groups > pq.read_metadata(path).num_row_groups
    assert pq.read_table(hourly).equals(pq.read_table(path))


def test_a_second_read_connection_gives_the_same_file(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult], tmp_path: Path
) -> None:
    db, s = synth_db
    path, _ = exported
    two = tmp_path / "two.parquet"
    run(db, params(s), two, two_connections=True)
    assert without_created_at(two) == without_created_at(path)


def test_partition_by_day_splits_at_utc_midnight(
    synth_db: tuple[str, synth.Synth], exported: tuple[Path, ExportResult], tmp_path: Path
) -> None:
    db, s = synth_db
    path, _ = exported
    out = tmp_path / "parts"
    result = run(db, params(s), out, partition_by_day=True)
    files = sorted(out.glob("date=*/part.parquet"))
    assert (
        [f.parent.name for f in files]
        == ["date=2026-01-01", "date=2026-01-02"]
        == [p.parent.name for p in result.paths]
    )
    tables = [pq.read_table(f) for f in files]
    assert pa.concat_tables(tables).equals(pq.read_table(path))
    for f, t in zip(files, tables, strict=True):
        meta = contract(f)
        assert meta["rows"] == t.num_rows and meta["partition"] == f.parent.name.removeprefix("date=")
    assert [dt_to_ms(t["t0"][0].as_py()) < dt_to_ms(synth.at(1800)) for t in tables] == [True, False]
