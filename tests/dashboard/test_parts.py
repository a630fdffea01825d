"""The dashboard's pure parts: calibration bins, the gate-report reader, chart thinning."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from cqt.dashboard.calibration import reliability
from cqt.dashboard.gate_report import load
from cqt.dashboard.queries import MAX_POINTS, bucket_s


def test_reliability_bins_predictions_and_counts_hits() -> None:
    settled = pl.DataFrame(
        {
            "p_up": [0.05, 0.15, 0.12, 1.0],
            "p_down": [0.90, 0.80, 0.80, 0.0],
            "p_none": [0.05, 0.05, 0.08, 0.0],
            "y": [-1, 1, -1, 1],
        }
    )
    rel = reliability(settled)
    up = rel.filter(pl.col("outcome") == "UP").sort("bin")
    # 0.05 -> bin 0 (a miss); 0.15 and 0.12 -> bin 1 (one hit of two); 1.0 -> the last bin (a hit)
    assert up["bin"].to_list() == [0, 1, 9]
    assert up["n"].to_list() == [1, 2, 1]
    assert up["observed"].to_list() == [0.0, 0.5, 1.0]
    assert up["predicted"].to_list() == pytest.approx([0.05, 0.135, 1.0])
    down = rel.filter(pl.col("outcome") == "DOWN").sort("bin")
    assert down["bin"].to_list() == [0, 8, 9] and down["observed"].to_list() == [0.0, 0.5, 1.0]
    assert rel.filter(pl.col("outcome") == "NONE")["observed"].sum() == 0.0


def test_gate_report_missing_file_is_none(tmp_path: Path) -> None:
    assert load(tmp_path / "gate.json") is None


def test_gate_report_takes_the_item_list_whatever_its_key(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text(
        json.dumps(
            {
                "profile": "local",
                "gates": [
                    {"id": "A1", "title": "t", "result": "pass", "evidence": {"seconds": 612}},
                    {"result": "MAYBE"},
                ],
            }
        )
    )
    report = load(path)
    assert report is not None and report.problem is None
    first, second = report.items
    assert (first.id, first.result, first.evidence) == ("A1", "PASS", '{"seconds": 612}')
    assert (second.id, second.title, second.result, second.evidence) == ("#2", "", "UNKNOWN", "")
    assert report.count("PASS") == 1 and report.count("FAIL") == 0


@pytest.mark.parametrize(
    ("content", "problem"), [("{not json", "not readable JSON"), ('{"a": 1}', "no list")]
)
def test_gate_report_problems_are_explained(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "gate.json"
    path.write_text(content)
    report = load(path)
    assert report is not None and report.items == [] and problem in (report.problem or "")


@pytest.mark.parametrize(
    ("window_s", "expected"), [(60, 1), (600, 1), (601, 2), (3_600, 6), (604_800, 1_008)]
)
def test_bucket_keeps_charts_at_most_max_points(window_s: int, expected: int) -> None:
    assert bucket_s(window_s) == expected
    assert window_s / bucket_s(window_s) <= MAX_POINTS
