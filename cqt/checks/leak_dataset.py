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
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq  # type: ignore[import-untyped]
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
    """One Parquet file: its rows (as dicts) and its specs."""

    path: Path
    rows: list[dict[str, Any]]
    specs: list[Spec]
    problems: list[str]


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
        pf = pq.ParquetFile(path)
        raw = (pf.schema_arrow.metadata or {}).get(b"cqt")
        rows = pf.read().to_pylist()
    except (OSError, ValueError) as exc:
        raise CannotRun(f"cannot read {path} as Parquet: {exc}") from exc
    columns = set(pf.schema_arrow.names)
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
    pool = [(part, row) for part in parts for row in part.rows]
    sample = random.sample(pool, min(sample_n, len(pool)))
    mismatches: list[str] = []
    for part, row in sample:
        t0 = row["t0"]
        for spec in part.specs:
            got = conn.execute(spec.query(), spec.params(t0)).fetchone()
            want = None if got is None else _value(got[0])
            have = _value(row.get(spec.column))
            if not close_enough(have, want):
                mismatches.append(f"t0 {t0.isoformat()} {spec.column}: file {have!r}, recomputed {want!r}")
    late_labels = [
        r["t0"]
        for _, r in pool
        if r.get("label_ts") is None or r["label_ts"] < r["t0"] + timedelta(seconds=int(r["horizon_s"]))
    ]
    early_preds = [
        r["t0"] for _, r in pool if r.get("pred_created_at") is not None and r["pred_created_at"] < r["t0"]
    ]
    return [
        equals(
            "dataset spec_problems",
            len(problems),
            0,
            "",
            "; ".join(problems[:SHOW]) or f"{len(parts)} file(s)",
        ),
        at_least("dataset rows audited", len(sample), 1, "", f"of {len(pool)} rows"),
        equals("dataset feature_mismatches", len(mismatches), 0, "", "; ".join(mismatches[:SHOW])),
        equals("dataset label_before_horizon", len(late_labels), 0, "", _first(late_labels)),
        equals("dataset pred_created_before_t0", len(early_preds), 0, "", _first(early_preds)),
    ]


def _first(ts: list[datetime]) -> str:
    return f"first at t0 {ts[0].isoformat()}" if ts else ""
