"""leak: predictions made by the real predictor pass the independent recomputation; a planted
future-peeking feature, a metric stamped with its poll time, a partial period and a prediction written
before its t0 FAIL; an exported dataset is audited per the dataset contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from cqt.checks.leak_dataset import audit_dataset
from cqt.checks.registry import CHECKS
from cqt.checks.run import execute
from tests.checks.conftest import WINDOW_S, Evidence, failed, measurement, run_check, settings_for


def test_real_predictions_match_the_independent_recomputation(healthy: Evidence) -> None:
    result = run_check(healthy.db, "leak")
    assert result.status == "PASS", result.text()
    audited = measurement(result, "predictions audited")
    assert audited.value is not None and audited.value >= 10
    assert measurement(result, "metrics stamps_off_grid").ok


def _one_prediction(ev: Evidence) -> tuple[int, datetime]:
    with ev.conn() as c:
        row = c.execute("SELECT id, ts FROM predictions ORDER BY ts DESC LIMIT 1").fetchone()
    assert row is not None
    return row[0], row[1]


def test_planted_future_peeking_feature_fails(healthy: Evidence) -> None:
    # A feature builder that ignores recv_ts takes the bar ending at t0, which arrived 300 ms after t0.
    pid, t0 = _one_prediction(healthy)
    healthy.execute(
        "UPDATE predictions SET features = features || jsonb_build_object('close',"
        " (SELECT close FROM market_1s WHERE exchange = 'binance' AND ts = %s)) WHERE id = %s",
        (t0, pid),
    )
    result = run_check(healthy.db, "leak")
    assert failed(result) == {"predictions feature_mismatches"}
    m = measurement(result, "predictions feature_mismatches")
    assert m.value == 1 and f"prediction {pid}" in m.detail and ": close stored" in m.detail


def test_bar_revised_after_t0_is_unverifiable_not_a_leak(healthy: Evidence) -> None:
    pid, t0 = _one_prediction(healthy)
    healthy.execute(
        "UPDATE market_1s SET close = close * 1.001, revision = 1, recv_ts = %s"
        " WHERE exchange = 'binance' AND ts = %s",
        (t0 + timedelta(seconds=2), t0 - timedelta(seconds=1)),
    )
    result = run_check(healthy.db, "leak")
    assert result.status == "PASS", result.text()
    assert "unverifiable" in measurement(result, "predictions audited").detail
    assert " 0 unverifiable" not in measurement(result, "predictions audited").detail


def test_metric_stamped_with_its_poll_time_fails(healthy: Evidence) -> None:
    healthy.execute(
        "INSERT INTO metrics (source, symbol, metric, ts, recv_ts, period_s, value) VALUES"
        " ('binance', 'BTCUSDT', 'oi_hist', now() - interval '17.3 s', now() - interval '17.2 s', 300, 1)"
    )
    result = run_check(healthy.db, "leak")
    assert failed(result) == {"metrics stamps_off_grid"}
    assert "binance/BTCUSDT/oi_hist" in measurement(result, "metrics stamps_off_grid").detail


def test_partial_period_stamped_as_complete_fails(healthy: Evidence) -> None:
    # on the hour grid, but the hour had not ended when the value arrived
    healthy.execute(
        "INSERT INTO metrics (source, symbol, metric, ts, recv_ts, period_s, value) VALUES"
        " ('coinglass', 'BTCUSDT', 'ls_ratio', date_trunc('hour', now()) + interval '1 hour',"
        " now() - interval '5 s', 3600, 1)"
    )
    result = run_check(healthy.db, "leak")
    assert failed(result) == {"metrics stamps_after_recv"}


def test_prediction_created_before_its_t0_fails(healthy: Evidence) -> None:
    pid, t0 = _one_prediction(healthy)
    healthy.execute("UPDATE predictions SET created_at = %s WHERE id = %s", (t0 - timedelta(seconds=1), pid))
    result = run_check(healthy.db, "leak")
    assert failed(result) == {"predictions created_before_t0"}


def test_no_predictions_in_the_window_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM predictions")
    result = run_check(healthy.db, "leak")
    assert failed(result) == {"predictions audited"}


# --- exported datasets (dataset contract) ----------------------------------------------------------------

SPECS = [
    {
        "column": "bn_close",
        "table": "market_1s",
        "filters": {"exchange": "binance", "symbol": "BTCUSDT", "gap": False},
        "value": "close",
        "rule": "latest_usable",
        "max_age_s": 10,
    },
    {
        "column": "funding",
        "table": "mark_price",
        "filters": {"exchange": "binance", "symbol": "BTCUSDT"},
        "value": "funding_rate",
        "rule": "latest_usable",
        "max_age_s": 60,
    },
]
UTC_MS = pa.timestamp("ms", tz="UTC")


def write_dataset(
    path: Path, rows: list[dict[str, Any]], specs: list[dict[str, Any]], row_group_size: int | None = None
) -> Path:
    schema = pa.schema(
        [
            ("t0", UTC_MS),
            ("symbol", pa.string()),
            ("bn_close", pa.float64()),
            ("funding", pa.float64()),
            ("pred_p_up", pa.float64()),
            ("pred_created_at", UTC_MS),
            ("y", pa.int8()),
            ("fwd_return", pa.float64()),
            ("r_t", pa.float64()),
            ("label_ts", UTC_MS),
            ("touch_ts", UTC_MS),
            ("ambiguous", pa.bool_()),
            ("horizon_s", pa.int32()),
        ]
    )
    meta = {
        "schema_version": 1,
        "code_version": "test",
        "params": {"symbol": "BTCUSDT", "horizon_s": 30},
        "rows": len(rows),
        "features": specs,
    }
    table = pa.Table.from_pylist(rows, schema=schema.with_metadata({"cqt": json.dumps(meta)}))
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def honest_rows(ev: Evidence) -> list[dict[str, Any]]:
    """Rows at t0 on a 5 s grid; the fixture's bars arrive 300 ms after their end, so the latest bar usable
    at t0 is the one ending at t0 - 1 s."""
    end = ev.now.replace(microsecond=0) - timedelta(seconds=2)
    with ev.conn() as c:
        closes = dict(c.execute("SELECT ts, close FROM market_1s WHERE exchange = 'binance'").fetchall())
    rows = []
    for k in range(0, WINDOW_S, 5):
        t0 = end - timedelta(seconds=k)
        rows.append(
            dict(
                t0=t0,
                symbol="BTCUSDT",
                bn_close=closes[t0 - timedelta(seconds=1)],
                funding=0.0001,
                pred_p_up=0.3,
                pred_created_at=t0 + timedelta(milliseconds=800),
                y=0,
                fwd_return=0.0,
                r_t=0.002,
                label_ts=t0 + timedelta(seconds=30),
                touch_ts=None,
                ambiguous=False,
                horizon_s=30,
            )
        )
    return rows


def run_leak(ev: Evidence, dataset: Path) -> Any:
    return execute("leak", CHECKS["leak"], settings_for(ev.db), WINDOW_S, None, dataset)


def test_honest_dataset_passes(healthy: Evidence, tmp_path: Path) -> None:
    result = run_leak(healthy, write_dataset(tmp_path / "d.parquet", honest_rows(healthy), SPECS))
    assert result.status == "PASS", result.text()
    assert measurement(result, "dataset rows audited").value == WINDOW_S // 5


def test_a_dataset_is_read_row_group_by_row_group(healthy: Evidence, tmp_path: Path) -> None:
    rows = honest_rows(healthy)
    rows[-1]["label_ts"] = rows[-1]["t0"]  # in the last row group
    path = write_dataset(tmp_path / "d.parquet", rows, SPECS, row_group_size=5)
    assert pq.ParquetFile(path).num_row_groups > 2
    with healthy.conn() as c:
        got = {m.name: m for m in audit_dataset(c, path, sample_n=2)}  # most row groups hold no sampled row
    assert got["dataset rows audited"].value == 2
    assert got["dataset feature_mismatches"].value == 0
    late = got["dataset label_before_horizon"]
    assert late.value == 1 and rows[-1]["t0"].isoformat() in late.detail


def test_dataset_peeking_feature_fails(healthy: Evidence, tmp_path: Path) -> None:
    rows = honest_rows(healthy)
    with healthy.conn() as c:
        closes = dict(c.execute("SELECT ts, close FROM market_1s WHERE exchange = 'binance'").fetchall())
    rows[3]["bn_close"] = closes[rows[3]["t0"]]  # the bar ending at t0: not yet received at t0
    result = run_leak(healthy, write_dataset(tmp_path / "d.parquet", rows, SPECS))
    assert failed(result) == {"dataset feature_mismatches"}
    assert (
        f"t0 {rows[3]['t0'].isoformat()} bn_close" in measurement(result, "dataset feature_mismatches").detail
    )


def test_dataset_label_inside_the_horizon_and_early_prediction_fail(
    healthy: Evidence, tmp_path: Path
) -> None:
    rows = honest_rows(healthy)
    rows[0]["label_ts"] = rows[0]["t0"] + timedelta(seconds=10)
    rows[1]["pred_created_at"] = rows[1]["t0"] - timedelta(seconds=1)
    result = run_leak(healthy, write_dataset(tmp_path / "d.parquet", rows, SPECS))
    assert failed(result) == {"dataset label_before_horizon", "dataset pred_created_before_t0"}


def test_dataset_feature_without_spec_fails(healthy: Evidence, tmp_path: Path) -> None:
    result = run_leak(healthy, write_dataset(tmp_path / "d.parquet", honest_rows(healthy), SPECS[:1]))
    assert failed(result) == {"dataset spec_problems"}
    assert "feature column funding has no spec" in measurement(result, "dataset spec_problems").detail


def test_missing_dataset_cannot_run(healthy: Evidence, tmp_path: Path) -> None:
    result = run_leak(healthy, tmp_path / "nope.parquet")
    assert result.status == "ERROR" and result.exit_code == 2
    assert result.error is not None and "does not exist" in result.error


@pytest.mark.parametrize("bad", ["table", "rule"])
def test_dataset_spec_outside_the_contract_fails(healthy: Evidence, tmp_path: Path, bad: str) -> None:
    specs = [dict(SPECS[0]), SPECS[1]]
    specs[0][bad] = "trades" if bad == "table" else "latest"
    result = run_leak(healthy, write_dataset(tmp_path / "d.parquet", honest_rows(healthy), specs))
    assert "dataset spec_problems" in failed(result)
