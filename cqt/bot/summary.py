"""The summary a bot run prints to stdout when it stops: what it stored, predicted and repaired, where the
data lives and what to run next.

The counts come from the database, selected by the run's span in `bot_runs` (`started_at` to `stopped_at`,
both stamped by the database): every row the bot writes is stamped with when this process received or made
it (`recv_ts`; bars: their newest input; gaps: `opened_at` / `closed_at`; predictions: `created_at` /
`settled_at`; Coinglass calls: `ts`), so this run's rows are the ones stamped inside its span, limited to its
symbols. The market tables are read through their `(exchange, symbol, ts)` index, so the cost follows the
run's length, not the table's: a row whose event time lies more than `EVENT_SLACK` before the run started is
not counted (nothing the bot collects is that old; gap fills and REST comparisons repair holes inside the
run). Rows still in the spool when the run ends are counted by nobody until a later run replays them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from cqt.config import Settings
from cqt.db.connect import DbTarget

EVENT_SLACK = timedelta(hours=1)
CHECK_MARGIN_S = 20
MARKET_TABLES = ("trades", "quotes", "market_1s", "mark_price", "liquidations")

_RUN = (
    "SELECT started_at, coalesce(stopped_at, now()), stop_cause, stop_detail FROM bot_runs WHERE run_id = %s"
)
_MARKET = (
    "SELECT exchange, symbol, count(*) FROM {table} WHERE exchange = ANY(%(exchanges)s)"
    " AND symbol = ANY(%(symbols)s) AND ts >= %(since)s AND recv_ts BETWEEN %(start)s AND %(stop)s GROUP BY 1, 2"
)
_METRICS = (
    "SELECT count(*) FROM metrics WHERE symbol = ANY(%(symbols)s) AND recv_ts BETWEEN %(start)s AND %(stop)s"
)
_COINGLASS_CALLS = (
    "SELECT count(*) FROM coinglass_call_status WHERE ts BETWEEN %(start)s AND %(stop)s"
    " AND symbol = ANY(%(symbols)s)"
)
_GAPS = (
    "SELECT count(*) FILTER (WHERE opened_at BETWEEN %(start)s AND %(stop)s),"
    " count(*) FILTER (WHERE status = 'filled' AND closed_at BETWEEN %(start)s AND %(stop)s),"
    " count(*) FILTER (WHERE status = 'unfillable' AND closed_at BETWEEN %(start)s AND %(stop)s)"
    " FROM gaps WHERE exchange = ANY(%(exchanges)s) AND symbol = ANY(%(symbols)s)"
)
_PREDICTIONS = (
    "SELECT count(*) FILTER (WHERE created_at BETWEEN %(start)s AND %(stop)s),"
    " count(*) FILTER (WHERE settled_at BETWEEN %(start)s AND %(stop)s),"
    " count(*) FILTER (WHERE settled_at BETWEEN %(start)s AND %(stop)s AND y IS NOT NULL),"
    " avg(brier) FILTER (WHERE settled_at BETWEEN %(start)s AND %(stop)s)"
    " FROM predictions WHERE symbol = ANY(%(binance)s) AND ts >= %(since)s"
)


@dataclass(frozen=True)
class RunSummary:
    """What one run left in the database."""

    run_id: int
    started_at: datetime
    stopped_at: datetime
    stop_cause: str | None
    stop_detail: str | None
    rows: dict[str, int]  # table -> rows stored by this run
    bars: dict[tuple[str, str], int]  # (exchange, symbol) -> 1 s bars
    predictions: int
    settled: int
    labelled: int
    mean_brier: float | None
    gaps_opened: int
    gaps_filled: int
    gaps_unfillable: int

    @property
    def seconds(self) -> float:
        return (self.stopped_at - self.started_at).total_seconds()


def _one(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None  # aggregates without GROUP BY always return a row
    return tuple(row)


def collect(conninfo: str, run_id: int, settings: Settings) -> RunSummary:
    """Count what run `run_id` (collecting `settings`' symbols) stored; psycopg.Error if the database is away."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        run = conn.execute(_RUN, (run_id,)).fetchone()
        if run is None:
            raise LookupError(f"bot_runs has no run {run_id}")
        start, stop, cause, detail = run
        binance = list(settings.binance_symbols)
        params: dict[str, Any] = {
            "start": start,
            "stop": stop,
            "since": start - EVENT_SLACK,
            "exchanges": ["binance", "upbit"],
            "symbols": binance + list(settings.upbit_markets),
            "binance": binance,
        }
        rows: dict[str, int] = {}
        bars: dict[tuple[str, str], int] = {}
        for table in MARKET_TABLES:
            counts = conn.execute(sql.SQL(_MARKET).format(table=sql.Identifier(table)), params).fetchall()
            rows[table] = sum(int(n) for _, _, n in counts)
            if table == "market_1s":
                bars = {(str(e), str(s)): int(n) for e, s, n in sorted(counts)}
        polled = {**params, "symbols": [*binance, settings.coinglass_pair, settings.coinglass_coin]}
        rows["metrics"] = int(_one(conn, _METRICS, polled)[0])
        rows["coinglass_call_status"] = int(_one(conn, _COINGLASS_CALLS, polled)[0])
        opened, filled, unfillable = (int(n) for n in _one(conn, _GAPS, params))
        rows["gaps"] = opened
        made, settled, labelled, brier = _one(conn, _PREDICTIONS, params)
        rows["predictions"] = int(made)
    return RunSummary(
        run_id=run_id,
        started_at=start,
        stopped_at=stop,
        stop_cause=cause,
        stop_detail=detail,
        rows=rows,
        bars=bars,
        predictions=int(made),
        settled=int(settled),
        labelled=int(labelled),
        mean_brier=None if brier is None else float(brier),
        gaps_opened=opened,
        gaps_filled=filled,
        gaps_unfillable=unfillable,
    )


def _source_flag(source: str) -> str:
    return " --source sim" if source == "sim" else ""


def render(
    summary: RunSummary, target: DbTarget, settings: Settings, source: str, horizon_s: int
) -> list[str]:
    """The summary's lines: counts, where the data is, how to stop the server, what to run next."""
    s = summary
    flag = _source_flag(source)
    stored = ", ".join(f"{table} {n}" for table, n in s.rows.items())
    bars = ", ".join(f"{e} {sym} {n}" for (e, sym), n in s.bars.items()) or "none"
    brier = "no labelled prediction yet" if s.mean_brier is None else f"mean Brier {s.mean_brier:.3f}"
    detail = (s.stop_detail or "").strip().splitlines()[-1:]  # the last line: a crash's exception
    lines = [
        f"run {s.run_id} ({source}) stopped after {s.seconds:.0f} s: {s.stop_cause or 'unknown'}"
        + (f" ({detail[0]})" if detail else ""),
        f"  rows stored: {stored}",
        f"  1 s bars: {bars}",
        f"  predictions: {s.predictions} made, {s.settled} settled ({s.labelled} labelled, {brier})",
        f"  gaps: {s.gaps_opened} opened, {s.gaps_filled} filled, {s.gaps_unfillable} unfillable",
        f"  data: {target.display}",
    ]
    if target.embedded:
        lines.append(f"  the embedded server is still running; stop it with `cqt db down{flag}`")
    # A little shorter than the run: the first seconds had no data yet, and the user runs it some seconds later.
    window = max(10, math.floor(s.seconds) - CHECK_MARGIN_S)
    lines += [
        "next:",
        f"  cqt check all{flag} --window {window}    # within {settings.check_max_lag_s:g} s of the stop,"
        " or the streams count as stale",
        f"  cqt export{flag} --output data/datasets/{source}_run{s.run_id}.parquet"
        f" --last {math.ceil(s.seconds / 60)}m --horizon {horizon_s}",
    ]
    return lines


def report(
    conninfo: str, run_id: int | None, target: DbTarget, settings: Settings, source: str, horizon_s: int
) -> Sequence[str]:
    """The summary of run `run_id`, or one line saying why there is none (the database went away)."""
    if run_id is None:
        return []
    try:
        summary = collect(conninfo, run_id, settings)
    except (psycopg.Error, LookupError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"run {run_id}: no summary, the database did not answer ({cause}); data: {target.display}"]
    return render(summary, target, settings, source, horizon_s)
