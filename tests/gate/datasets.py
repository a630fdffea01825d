"""Tiny Parquet datasets shaped like the export's (columns and the `cqt` metadata document)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def write_dataset(path: Path, rows: int, label_after_s: float = 130.0, violations: int = 0) -> Path:
    """`rows` decision times 5 s apart whose label comes `label_after_s` after t0 (H = 120 s)."""
    t0 = [T0 + timedelta(seconds=5 * i) for i in range(rows)]
    table = pa.table(
        {
            "t0": pa.array(t0, pa.timestamp("us", tz="UTC")),
            "symbol": ["BTCUSDT"] * rows,
            "y": pa.array([(i % 3) - 1 for i in range(rows)], pa.int8()),
            "label_ts": pa.array(
                [t + timedelta(seconds=label_after_s) for t in t0], pa.timestamp("us", tz="UTC")
            ),
            "horizon_s": pa.array([120] * rows, pa.int32()),
        }
    )
    meta = {
        "rows": rows,
        "params": {"horizon_s": 120},
        "features": [],
        "dropped": {"end_of_data": 24, "label_ts_violation": violations},
        "label_distribution": {"UP": rows // 3, "DOWN": rows // 3, "NONE": rows - 2 * (rows // 3)},
        "realised_vol": {"sigma_1s": 1e-4, "horizon": 1.1e-3},
    }
    pq.write_table(table.replace_schema_metadata({"cqt": json.dumps(meta)}), path)
    return path
