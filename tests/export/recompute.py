"""Independent, slow recomputation of a dataset file from the raw tables: one SQL query per feature and
row, written from the dataset contract's ``latest_usable`` rule (not from the exporter's code)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from psycopg import sql


def contract(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(pq.read_schema(path).metadata[b"cqt"])
    return meta


def latest_usable(conn: psycopg.Connection[Any], spec: dict[str, Any], t0: datetime) -> float | None:
    filters = sql.SQL("").join(
        sql.SQL(" AND {} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in spec["filters"]
    )
    age = sql.SQL("")
    if spec["max_age_s"] is not None:
        age = sql.SQL(" AND ts > %(t0)s - make_interval(secs => %(age)s)")
    query = sql.SQL(
        "SELECT {value} FROM {table} WHERE ts <= %(t0)s AND recv_ts <= %(t0)s{filters}{age}"
        " ORDER BY ts DESC LIMIT 1"
    ).format(
        value=sql.Identifier(spec["value"]), table=sql.Identifier(spec["table"]), filters=filters, age=age
    )
    row = conn.execute(query, {**spec["filters"], "t0": t0, "age": spec["max_age_s"]}).fetchone()
    if row is None or row[0] is None:
        return None
    return float(row[0])


def mismatches(conninfo: str, path: Path, rows: list[int] | None = None) -> list[str]:
    """Every (row, column) whose file value differs from the recomputation (rel. tolerance 1e-9)."""
    meta = contract(path)
    table = pq.read_table(path).to_pylist()
    picked = range(len(table)) if rows is None else rows
    bad = []
    with psycopg.connect(conninfo) as conn:
        for i in picked:
            row = table[i]
            for spec in meta["features"]:
                want = latest_usable(conn, spec, row["t0"])
                got = row[spec["column"]]
                same = (want is None and got is None) or (
                    want is not None
                    and got is not None
                    and math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0)
                )
                if not same:
                    bad.append(f"row {i} t0 {row['t0']} {spec['column']}: file {got} != recomputed {want}")
            if row["label_ts"] < row["t0"] + timedelta(seconds=row["horizon_s"]):
                bad.append(f"row {i}: label_ts {row['label_ts']} < t0 + H")
            if row["pred_created_at"] is not None and row["pred_created_at"] < row["t0"]:
                bad.append(f"row {i}: prediction created before t0")
    return bad
