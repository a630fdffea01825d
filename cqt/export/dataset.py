"""Chunked export of a labelled, point-in-time dataset to Parquet (issue 8; the dataset contract).

Decision times ``t0`` are the Binance bar ends on the ``every_s`` grid (multiples of ``every_s`` seconds
since the epoch, the predictor's grid, so its predictions join) with ``start <= t0 < end``. Grid times
without any stored bar are not decision times (counted in ``quality.grid_without_bar``). Each row holds
the features of :mod:`cqt.export.spec` at ``t0``, the prediction stored for ``(symbol, t0, H, model)``
and the kernel's label; rows without a label are dropped and counted by reason.

The range is processed in chunks of ``chunk_s`` (one UTC day by default, day-aligned), each read with
its look-back and horizon as overlap; the next chunk is read while the current one is built and written,
so memory is bounded by two chunks, and the result does not depend on the chunking. Each chunk is one Parquet row group; with ``partition_by_day`` each day is its own file
``<output>/date=YYYY-MM-DD/part.parquet`` carrying the metadata of its own rows.

Determinism: the same rows and parameters give byte-identical files except ``created_at`` (and
``code_version``) in the metadata: fixed column order, rows sorted by ``t0``, JSON with sorted keys,
zstd level 1, dictionary encoding for ``symbol`` only, no Arrow schema blob (the ``cqt`` key then reads
back as the Arrow schema's metadata too).
Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from numpy.typing import NDArray

from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.export.columns import dictionary
from cqt.export.labelling import LabelBars, kind_of, label_at, log_returns, threshold_of
from cqt.export.pg_read import Rows, read_rows
from cqt.export.pit_join import gather, latest_usable
from cqt.export.provenance import range_runs
from cqt.export.spec import (
    PRED_COLUMNS,
    ExportError,
    ExportParams,
    Source,
    bar_sources,
    coin,
    feature_columns,
    iso,
    mark_source,
    metric_max_age,
    metric_source,
)
from cqt.export.stats import VIOLATION, ExportStats, metadata
from cqt.labels import DynamicThreshold, LabelKind

DAY_S = 86_400
MS = pa.timestamp("ms", tz="UTC")
US = pa.timestamp("us", tz="UTC")
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


@dataclass(frozen=True)
class Plan:
    """Everything fixed before the first chunk: parameters, sources (schema), label settings."""

    params: ExportParams
    sources: list[Source]
    kind: LabelKind
    threshold: float | DynamicThreshold
    last_bar_ms: int
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", _schema(feature_columns(self.sources)))


@dataclass(frozen=True)
class ExportResult:
    paths: list[Path]
    stats: ExportStats
    size_bytes: int
    seconds: float
    file_violations: int


def _schema(features: list[str]) -> pa.Schema:
    return pa.schema(
        [("t0", MS), ("symbol", pa.string())]
        + [(c, pa.float64()) for c in features]
        + [(c, pa.float64()) for c in PRED_COLUMNS[:-1]]
        + [("pred_created_at", US), ("y", pa.int8()), ("fwd_return", pa.float64()), ("r_t", pa.float64())]
        + [("label_ts", MS), ("touch_ts", MS), ("ambiguous", pa.bool_()), ("horizon_s", pa.int32())]
    )


_METRIC_NAMES = (
    "SELECT symbol, metric, max(period_s) FROM metrics WHERE source = %(source)s AND symbol = ANY(%(symbols)s)"
    " AND ts > %(since)s AND ts <= %(until)s GROUP BY symbol, metric ORDER BY symbol, metric"
)
_BAR_SPAN = (
    "SELECT count(*) FILTER (WHERE ts >= %(start)s AND ts < %(end)s), max(ts) FROM market_1s"
    " WHERE exchange = 'binance' AND symbol = %(symbol)s AND ts <= %(until)s"
)
_PREDICTIONS = (
    "SELECT ts, p_up, p_down, p_none, r_t, created_at FROM predictions WHERE symbol = %(symbol)s"
    " AND horizon_s = %(horizon_s)s AND model = %(model)s AND ts >= %(lo)s AND ts < %(hi)s ORDER BY ts"
)


def validate_params(params: ExportParams) -> tuple[float | DynamicThreshold, LabelKind]:
    """The threshold and label kind of ``params``; :class:`ExportError` naming the bad option."""
    if params.horizon_s <= 0:
        raise ExportError(f"--horizon must be > 0 seconds, got {params.horizon_s}")
    if params.every_s <= 0:
        raise ExportError(f"--every must be > 0 seconds, got {params.every_s}")
    if params.start >= params.end:
        raise ExportError(f"empty range: start {iso(params.start)} is not before end {iso(params.end)}")
    try:
        return threshold_of(params.r_policy), kind_of(params.label)
    except ValueError as exc:
        raise ExportError(str(exc)) from exc


def plan_export(conn: psycopg.Connection[Any], params: ExportParams) -> Plan:
    """Validate ``params``, discover the metric series of the range and the last Binance bar."""
    threshold, kind = validate_params(params)
    until = params.end + timedelta(seconds=params.horizon_s)
    span = conn.execute(_BAR_SPAN, {"start": params.start, "end": params.end, "symbol": params.symbol,
                                    "until": until}).fetchone()  # fmt: skip
    if span is None or not span[0]:
        raise ExportError(
            f"empty range: no Binance bars of {params.symbol} with {iso(params.start)} <= ts < "
            f"{iso(params.end)}; run the bot longer or choose --start/--end (or --last) where it ran"
        )
    sources = [*bar_sources(params.symbol), mark_source(params.symbol)]
    longest = conn.execute(
        "SELECT max(period_s) FROM metrics WHERE symbol = ANY(%s)", ([params.symbol, coin(params.symbol)],)
    ).fetchone()
    since = params.start - timedelta(seconds=metric_max_age(longest[0] if longest else None))
    for source, prefix, symbols in (
        ("binance", "bm", [params.symbol]),
        ("coinglass", "cg", [params.symbol, coin(params.symbol)]),
    ):
        found = conn.execute(_METRIC_NAMES, {"source": source, "symbols": symbols, "since": since,
                                             "until": params.end}).fetchall()  # fmt: skip
        for symbol, metric, period_s in found:
            column = f"bm_{metric}" if prefix == "bm" else f"cg_{symbol.lower()}_{metric}"
            sources.append(metric_source(source, symbol, metric, period_s, column))
    return Plan(params, sources, kind, threshold, dt_to_ms(span[1]))


def chunk_bounds(start: datetime, end: datetime, chunk_s: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` in epoch ms covering ``[start, end)``, cut at multiples of ``chunk_s`` (UTC days)."""
    lo, end_ms, step = dt_to_ms(start), dt_to_ms(end), chunk_s * 1000
    out = []
    while lo < end_ms:
        hi = min((lo // step + 1) * step, end_ms)
        out.append((lo, hi))
        lo = hi
    return out


@dataclass(frozen=True)
class ChunkData:
    """Everything one chunk reads from the database: rows per source (in ``plan.sources`` order) and the
    stored predictions ``(ts, p_up, p_down, p_none, r_t, created_at)``."""

    lo_ms: int
    hi_ms: int
    rows: list[Rows]
    predictions: list[tuple[Any, ...]]


def read_part(
    conn: psycopg.Connection[Any], plan: Plan, lo_ms: int, hi_ms: int, sources: range, predictions: bool
) -> ChunkData:
    """The reads of ``plan.sources[i]`` for ``i`` in ``sources`` (and the predictions if asked) for the
    chunk ``lo_ms <= t0 < hi_ms``, each with its look-back (and the Binance bars with the horizon) as
    overlap."""
    p = plan.params
    window_s = plan.threshold.window_s if isinstance(plan.threshold, DynamicThreshold) else 0
    rows = []
    for i in sources:
        source = plan.sources[i]
        if i == 0:  # the Binance bars: also the label kernel's input
            since = lo_ms - (max(window_s, source.max_age_s) + 1) * 1000
            until = hi_ms + p.horizon_s * 1000
        else:
            since, until = lo_ms - source.max_age_s * 1000, hi_ms
        rows.append(read_rows(conn, source, ms_to_dt(since), ms_to_dt(until)))
    stored = []
    if predictions:
        stored = conn.execute(_PREDICTIONS, {"symbol": p.symbol, "horizon_s": p.horizon_s, "model": p.model,
                                                  "lo": ms_to_dt(lo_ms), "hi": ms_to_dt(hi_ms)}).fetchall()  # fmt: skip
    return ChunkData(lo_ms, hi_ms, rows, stored)


def build_chunk(plan: Plan, data: ChunkData) -> tuple[pa.Table, ExportStats]:
    """The rows with ``lo_ms <= t0 < hi_ms`` and the chunk's counts (no database access)."""
    p, lo_ms, hi_ms = plan.params, data.lo_ms, data.hi_ms
    stats = ExportStats(p.horizon_s)
    h_ms, step = p.horizon_s * 1000, p.every_s * 1000
    bn = data.rows[0]
    ts_ms = bn.ts // 1000
    in_chunk = (ts_ms >= lo_ms) & (ts_ms < hi_ms)
    t0_all = ts_ms[in_chunk & (ts_ms % step == 0)]
    stats.bars = int(in_chunk.sum())
    stats.gap_bars = int((in_chunk & (bn.values["gap"] > 0)).sum())
    stats.stale_bars = int((in_chunk & (bn.values["stale"] > 0)).sum())
    stats.grid_times = (hi_ms - 1) // step - (lo_ms - 1) // step
    stats.grid_without_bar = stats.grid_times - len(t0_all)

    bars = LabelBars.from_columns(ts_ms, bn.values)
    stats.add_returns(log_returns(bars, lo_ms, hi_ms))
    out, valid, dropped = label_at(
        bars, t0_all, horizon_s=p.horizon_s, kind=plan.kind, threshold=plan.threshold,
        last_bar_ms=plan.last_bar_ms,
    )  # fmt: skip
    stats.dropped.update(dropped)
    violation = valid & (out["label_ts"] < t0_all + h_ms)
    stats.dropped[VIOLATION] += int(violation.sum())
    valid &= ~violation
    t0 = t0_all[valid]
    labels = {k: v[valid] for k, v in out.items()}
    stats.add_labels(labels["y"].astype(np.int8))

    columns: dict[str, pa.Array] = {"t0": pa.array(t0, MS), "symbol": pa.repeat(p.symbol, len(t0))}
    for source, rows in zip(plan.sources, data.rows, strict=True):
        for col, values in _features(source, rows, t0 * 1000).items():
            nulls = np.isnan(values)
            stats.nulls[col] += int(nulls.sum())
            columns[col] = pa.array(values, mask=nulls)
    columns.update(_predictions(data.predictions, t0))
    touch = labels["touch_ts"].astype(np.int64)
    columns |= {
        "y": pa.array(labels["y"], pa.int8()),
        "fwd_return": pa.array(labels["fwd_return"], pa.float64()),
        "r_t": pa.array(labels["r_t"], pa.float64()),
        "label_ts": pa.array(labels["label_ts"], MS),
        "touch_ts": pa.array(touch, MS, mask=touch < 0),
        "ambiguous": pa.array(labels["ambiguous"], pa.bool_()),
        "horizon_s": pa.repeat(pa.scalar(p.horizon_s, pa.int32()), len(t0)),
    }
    return pa.Table.from_arrays([columns[f.name] for f in plan.schema], schema=plan.schema), stats


def _features(source: Source, rows: Rows, t0_us: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    """``latest_usable`` of every value of ``source`` at each ``t0`` (µs)."""
    keep = np.ones(len(rows), dtype=bool)
    for name, wanted in source.flag_filters().items():
        keep &= (rows.values[name] > 0) == wanted
    sel = rows if keep.all() else rows.take(keep)
    idx = latest_usable(sel.ts, sel.recv_ts, t0_us, source.max_age_s * 1_000_000)
    return {col: gather(sel.values[v], idx) for v, col in zip(source.values, source.columns, strict=True)}


def _predictions(rows: list[tuple[Any, ...]], t0: NDArray[np.int64]) -> dict[str, pa.Array]:
    n = len(t0)
    probs = np.full((n, 4), np.nan)
    created = np.zeros(n, dtype=np.int64)
    has = np.zeros(n, dtype=bool)
    for ts, *values, created_at in rows:
        i = int(np.searchsorted(t0, dt_to_ms(ts)))
        if i < n and t0[i] == dt_to_ms(ts):
            probs[i] = values
            created[i] = _epoch_us(created_at)
            has[i] = True
    out = {c: pa.array(probs[:, j], mask=~has) for j, c in enumerate(PRED_COLUMNS[:-1])}
    out["pred_created_at"] = pa.array(created, US, mask=~has)
    return out


def _epoch_us(ts: datetime) -> int:
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def check_writable(output: Path) -> None:
    """Fail early (before any work) when ``output`` cannot be created."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        probe = output.parent / f".{output.name}.probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ExportError(f"cannot write the output {output}: {exc.strerror or exc}") from exc


def label_ts_violations(path: Path) -> int:
    """Rows of the written file with ``label_ts < t0 + horizon_s`` (re-read from disk)."""
    table = pq.read_table(path, columns=["t0", "label_ts", "horizon_s"])
    t0 = table["t0"].cast(pa.int64()).to_numpy()
    label_ts = table["label_ts"].cast(pa.int64()).to_numpy()
    horizon = table["horizon_s"].to_numpy().astype(np.int64)
    return int((label_ts < t0 + horizon * 1000).sum())


class _File:
    """One Parquet file being written under a temporary name."""

    def __init__(self, path: Path, schema: pa.Schema, horizon_s: int) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(
            self.tmp, schema, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL, store_schema=False,
            use_dictionary=["symbol"],
        )  # fmt: skip
        self.stats = ExportStats(horizon_s)

    def close(self, meta: dict[str, object]) -> None:
        self.writer.add_key_value_metadata({"cqt": json.dumps(meta, sort_keys=True, separators=(",", ":"))})
        self.writer.close()
        self.tmp.replace(self.path)


def _prefetched(
    conns: list[psycopg.Connection[Any]], plan: Plan, bounds: list[tuple[int, int]]
) -> Iterator[ChunkData]:
    """The chunks' reads, split over ``conns`` (one or two), the next chunk read in threads while the caller
    builds and writes the current one: each connection's PostgreSQL backend formats rows in its own
    process meanwhile. At most two chunks are held."""
    n = len(plan.sources)
    # Two connections: the Binance bars on one, the rest on the other (they take about as long).
    split = [(range(n), True)] if len(conns) == 1 else [(range(1), False), (range(1, n), True)]

    def submit(lo_ms: int, hi_ms: int) -> list[Future[ChunkData]]:
        return [
            pool.submit(read_part, c, plan, lo_ms, hi_ms, *part) for c, part in zip(conns, split, strict=True)
        ]

    with ThreadPoolExecutor(max_workers=len(conns), thread_name_prefix="export-read") as pool:
        pending = submit(*bounds[0]) if bounds else []
        for nxt in [*bounds[1:], None]:
            done = [f.result() for f in pending]
            pending = submit(*nxt) if nxt is not None else []
            yield ChunkData(
                done[0].lo_ms,
                done[0].hi_ms,
                [r for d in done for r in d.rows],
                [row for d in done for row in d.predictions],
            )


def export_dataset(
    conn: psycopg.Connection[Any],
    params: ExportParams,
    output: Path,
    *,
    partition_by_day: bool = False,
    chunk_s: int = DAY_S,
    progress: Callable[[int, int, int], None] | None = None,
    second_conn: psycopg.Connection[Any] | None = None,
    source: str = "live",
) -> ExportResult:
    """Export ``params`` of ``source``'s database to ``output`` (a file, or a directory with
    ``partition_by_day``); ExportError when that database holds runs of another source in the range.

    ``progress(lo_ms, hi_ms, rows)`` is called after each chunk is written. ``second_conn`` (another
    connection to the same database) reads the Upbit bars, mark prices, metrics
    and predictions while ``conn`` reads the Binance bars: reading is PostgreSQL formatting rows, one
    backend process per connection, so two connections use two server cores.
    """
    started = time.perf_counter()
    check_writable(output / "x" if partition_by_day else output)
    plan = plan_export(conn, params)
    runs = range_runs(conn, source, params.start, params.end)
    columns = dictionary(plan.schema.names)
    if partition_by_day and DAY_S % chunk_s:
        raise ExportError(f"chunk of {chunk_s} s does not divide a day")
    created_at = iso(datetime.now(UTC))
    total = ExportStats(params.horizon_s)
    files: list[_File] = []
    current: _File | None = None

    def finish(f: _File) -> None:
        extra = {"partition": f.path.parent.name.removeprefix("date=")} if partition_by_day else {}
        f.close(
            metadata(params, plan.sources, f.stats, created_at, columns=columns, **runs.as_json(), **extra)
        )

    conns = [conn] if second_conn is None else [conn, second_conn]
    for data in _prefetched(conns, plan, chunk_bounds(params.start, params.end, chunk_s)):
        table, stats = build_chunk(plan, data)
        if partition_by_day:
            day = ms_to_dt(data.lo_ms).date().isoformat()
            path = output / f"date={day}" / "part.parquet"
            if current is None or current.path != path:
                if current is not None:
                    finish(current)
                current = _File(path, plan.schema, params.horizon_s)
                files.append(current)
        elif current is None:
            current = _File(output, plan.schema, params.horizon_s)
            files.append(current)
        if table.num_rows:
            current.writer.write_table(table, row_group_size=table.num_rows)
        current.stats.merge(stats)
        total.merge(stats)
        if progress is not None:
            progress(data.lo_ms, data.hi_ms, table.num_rows)
    assert current is not None  # plan_export guarantees a non-empty range
    finish(current)
    paths = [f.path for f in files]
    return ExportResult(
        paths=paths,
        stats=total,
        size_bytes=sum(p.stat().st_size for p in paths),
        seconds=time.perf_counter() - started,
        file_violations=sum(label_ts_violations(p) for p in paths),
    )
