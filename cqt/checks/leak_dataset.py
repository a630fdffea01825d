"""The leak check's audit of an exported Parquet dataset (``--dataset PATH``), per the dataset contract.

The file's schema metadata key ``cqt`` holds a JSON object whose ``features`` list has one audit spec
per feature column: ``{"column", "table", "filters", "value", "rule": "latest_usable", "max_age_s"}``.
For a random sample of rows each spec is re-run in SQL (identifiers through ``psycopg.sql.Identifier``,
values as parameters) with the point-in-time rule ``ts <= t0 AND recv_ts <= t0``, the greatest ``ts``,
and ``ts > t0 - max_age_s`` when given, and compared with the file (relative 1e-9; null == null, NaN
read as null; booleans as 0/1). Over every row: ``label_ts >= t0 + horizon_s`` (a row without
``label_ts`` breaks it: uncovered horizons are not written) and ``pred_created_at >= t0`` when present.

Measurements: ``dataset specs`` (feature columns without a spec, specs with an unknown table or rule,
specs naming no column of the file: 0), ``dataset rows audited`` (>= 1), ``dataset feature_mismatches``
(0), ``dataset label_before_horizon`` (0), ``dataset pred_created_before_t0`` (0). A missing or
unreadable file is :class:`~cqt.checks.context.CannotRun` (exit 2); a readable file that breaks the
contract (no ``cqt`` metadata) fails.

A directory is read as a partitioned dataset: every ``*.parquet`` file under it, each with its own specs.
Files are read one row group at a time (the row checks in Arrow, only the sampled rows as Python
values), so a month-long export is audited in the memory of one of its days.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from numpy.typing import NDArray
from psycopg import sql

from cqt.checks.context import CannotRun
from cqt.checks.result import Measurement, at_least, equals

TABLES = frozenset({"market_1s", "mark_price", "metrics", "liquidations"})
RULES = frozenset({"latest_usable"})
NON_FEATURE = frozenset(
    {
        "t0",
        "symbol",
        "y",
        "fwd_return",
        "r_t",
        "label_ts",
        "touch_ts",
        "ambiguous",
        "horizon_s",
    }
)
REL_TOL = 1e-9
ABS_TOL = 1e-12
SHOW = 3


@dataclass(frozen=True)
class Spec:
    column: str
    table: str
    filters: dict[str, Any]
    value: str
    max_age_s: float | None

    def query(self) -> sql.Composed:
        conds: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(k)) for k in self.filters]
        conds += [sql.SQL("ts <= %s"), sql.SQL("recv_ts <= %s")]
        if self.max_age_s is not None:
            conds.append(sql.SQL("ts > %s"))
        return sql.SQL("SELECT {v} FROM {t} WHERE {c} ORDER BY ts DESC LIMIT 1").format(
            v=sql.Identifier(self.value), t=sql.Identifier(self.table), c=sql.SQL(" AND ").join(conds)
        )

    def params(self, t0: datetime) -> list[Any]:
        out: list[Any] = [*self.filters.values(), t0, t0]
        if self.max_age_s is not None:
            out.append(t0 - timedelta(seconds=self.max_age_s))
        return out


@dataclass
class Part:
    """One Parquet file: its row count and its specs."""

    path: Path
    rows: int
    specs: list[Spec]
    problems: list[str]


@dataclass
class RowChecks:
    """What the audit takes from the rows: the sampled rows, and the rows breaking a rule (count, first t0)."""

    sampled: list[tuple[Part, dict[str, Any]]]
    late_labels: int = 0
    early_preds: int = 0
    first_late: datetime | None = None
    first_early: datetime | None = None


def files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(path.rglob("*.parquet"))
        if not found:
            raise CannotRun(f"no *.parquet file under {path}; fix: pass the exported file or directory")
        return found
    if not path.is_file():
        raise CannotRun(f"dataset {path} does not exist; fix: pass the path of an exported Parquet file")
    return [path]


def read_part(path: Path) -> Part:
    try:
        with pq.ParquetFile(path) as pf:
            schema, rows = pf.schema_arrow, pf.metadata.num_rows
    except (OSError, ValueError) as exc:
        raise CannotRun(f"cannot read {path} as Parquet: {exc}") from exc
    raw = (schema.metadata or {}).get(b"cqt")
    columns = set(schema.names)
    if raw is None:
        return Part(path, rows, [], [f"{path.name}: no 'cqt' key in the schema metadata"])
    try:
        meta = json.loads(raw)
        specs = [
            Spec(f["column"], f["table"], dict(f.get("filters") or {}), f["value"], f.get("max_age_s"))
            for f in meta["features"]
        ]
        rules = {f["column"]: f.get("rule") for f in meta["features"]}
    except (ValueError, KeyError, TypeError) as exc:
        return Part(path, rows, [], [f"{path.name}: unreadable 'cqt' metadata ({exc})"])
    problems = [
        f"{path.name}: spec {s.column} reads unknown table {s.table!r}"
        for s in specs
        if s.table not in TABLES
    ]
    problems += [f"{path.name}: spec {c} has unknown rule {r!r}" for c, r in rules.items() if r not in RULES]
    problems += [
        f"{path.name}: spec {s.column} names no column of the file" for s in specs if s.column not in columns
    ]
    features = {c for c in columns if c not in NON_FEATURE and not c.startswith("pred_")}
    problems += [
        f"{path.name}: feature column {c} has no spec" for c in sorted(features - {s.column for s in specs})
    ]
    return Part(path, rows, [s for s in specs if s.table in TABLES and s.column in columns], problems)


NULL_US = np.iinfo(np.int64).min


def _us(group: pa.Table, name: str) -> NDArray[np.int64]:
    """Timestamp column ``name`` in epoch µs; null (or a missing column) as ``NULL_US``, before any time."""
    if name not in group.column_names:
        return np.full(group.num_rows, NULL_US, dtype=np.int64)
    us = group[name].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).fill_null(NULL_US)
    return np.asarray(us.to_numpy(), dtype=np.int64)


def check_rows(parts: list[Part], sample: set[int]) -> RowChecks:
    """One pass over every row group: the rows whose global index is in ``sample``, and the rule breaks
    (``label_ts >= t0 + horizon_s``, a null ``label_ts`` included; ``pred_created_at >= t0`` when set)."""
    out = RowChecks([])
    offset = 0
    for part in parts:
        try:
            with pq.ParquetFile(part.path) as pf:
                for g in range(pf.num_row_groups):
                    group = pf.read_row_group(g)
                    t0 = _us(group, "t0")
                    horizon = (
                        group["horizon_s"].fill_null(0).to_numpy() if "horizon_s" in group.column_names else 0
                    )
                    label = _us(group, "label_ts")
                    late = (label == NULL_US) | (label < t0 + np.asarray(horizon, dtype=np.int64) * 1_000_000)
                    created = _us(group, "pred_created_at")
                    early = (created != NULL_US) & (created < t0)
                    out.late_labels += int(late.sum())
                    out.early_preds += int(early.sum())
                    if out.first_late is None and late.any():
                        out.first_late = group["t0"][int(np.argmax(late))].as_py()
                    if out.first_early is None and early.any():
                        out.first_early = group["t0"][int(np.argmax(early))].as_py()
                    picked = sorted(i - offset for i in sample if offset <= i < offset + group.num_rows)
                    out.sampled += [
                        (part, row) for row in group.take(pa.array(picked, pa.int64())).to_pylist()
                    ]
                    offset += group.num_rows
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise CannotRun(f"cannot read the rows of {part.path}: {exc}") from exc
    return out


def _value(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def close_enough(a: float | None, b: float | None) -> bool:
    """The contract's comparison: null == null; numbers within 1e-9 relative (1e-12 absolute near zero)."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + ABS_TOL


def audit_dataset(conn: psycopg.Connection[Any], path: Path, sample_n: int) -> list[Measurement]:
    parts = [read_part(p) for p in files(path)]
    problems = [p for part in parts for p in part.problems]
    total = sum(part.rows for part in parts)
    rows = check_rows(parts, set(random.sample(range(total), min(sample_n, total))))
    mismatches: list[str] = []
    for part, row in rows.sampled:
        t0 = row["t0"]
        for spec in part.specs:
            got = conn.execute(spec.query(), spec.params(t0)).fetchone()
            want = None if got is None else _value(got[0])
            have = _value(row.get(spec.column))
            if not close_enough(have, want):
                mismatches.append(f"t0 {t0.isoformat()} {spec.column}: file {have!r}, recomputed {want!r}")
    return [
        equals(
            "dataset spec_problems",
            len(problems),
            0,
            "",
            "; ".join(problems[:SHOW]) or f"{len(parts)} file(s)",
        ),
        at_least("dataset rows audited", len(rows.sampled), 1, "", f"of {total} rows"),
        equals("dataset feature_mismatches", len(mismatches), 0, "", "; ".join(mismatches[:SHOW])),
        equals("dataset label_before_horizon", rows.late_labels, 0, "", _first(rows.first_late)),
        equals("dataset pred_created_before_t0", rows.early_preds, 0, "", _first(rows.first_early)),
    ]


def _first(t0: datetime | None) -> str:
    return "" if t0 is None else f"first at t0 {t0.isoformat()}"
