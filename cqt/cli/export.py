"""`cqt export` (also `python scripts/export_dataset.py`) and `cqt labels study`.

Time range: `--last 1h` (the range ending now) or `--start`/`--end` (ISO 8601; no offset means UTC;
`--end` defaults to now). Decision times satisfy `start <= t0 < end`. Exit codes: 0 written, 1 the written
file failed its `label_ts >= t0 + H` re-check, 2 could not run (bad option, empty range, database
unreachable, unwritable output).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from cqt.cli.common import SourceOption, fail, settings_or_exit, utc_option
from cqt.cli.db import open_db
from cqt.cli.progress import Progress
from cqt.collect.rows import ms_to_dt
from cqt.export.dataset import (
    DAY_S,
    check_writable,
    chunk_bounds,
    export_dataset,
    validate_params,
)
from cqt.export.spec import ExportError, ExportParams
from cqt.export.study import FIXED_R, explain, label_study, plot, table_lines
from cqt.export.summary import summary_lines
from cqt.predict.baseline import MODEL

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

Symbol = Annotated[str, typer.Option(help="Binance USD-M symbol (its Upbit market KRW-<coin> joins).")]
Horizon = Annotated[int, typer.Option(help="Label horizon H in seconds (> 0).")]
Last = Annotated[str | None, typer.Option(help="Range ending now, e.g. 1h, 24h, 30m, 7d (default 1h).")]
Start = Annotated[str | None, typer.Option(help="Range start, ISO 8601 (UTC if no offset).")]
End = Annotated[str | None, typer.Option(help="Range end (exclusive), ISO 8601; default now.")]
Every = Annotated[str, typer.Option(help="Decision-time grid, e.g. 5s (the predictor's grid) or 1s.")]
Label = Annotated[str, typer.Option(help="fixed: fixed horizon; triple: triple barrier.")]


def duration_s(text: str, option: str) -> int:
    """`90s`, `30m`, `1h`, `7d` -> seconds; exits 2 naming the option otherwise."""
    m = _DURATION.match(text.strip())
    if not m:
        fail(f"{option} expects a duration like 5s, 30m, 1h or 7d, got {text!r}")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def time_range(last: str | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    if last is not None and (start is not None or end is not None):
        fail("use either --last or --start/--end, not both")
    now = datetime.now(UTC).replace(microsecond=0)
    if start is None:
        end_ts = now if end is None else utc_option(end, "--end")
        return end_ts - timedelta(seconds=duration_s(last or "1h", "--last")), end_ts
    return utc_option(start, "--start"), now if end is None else utc_option(end, "--end")


def _params(symbol: str, horizon: int, label: str, r_policy: str, every: str, rng: tuple[datetime, datetime],
            model: str) -> ExportParams:  # fmt: skip
    params = ExportParams(
        symbol=symbol, horizon_s=horizon, label=label, r_policy=r_policy,
        every_s=duration_s(every, "--every"), start=rng[0], end=rng[1], model=model,
    )  # fmt: skip
    try:
        validate_params(params)
    except ExportError as exc:
        fail(str(exc))
    return params


def _connection(source: str) -> psycopg.Connection[Any]:
    return open_db(settings_or_exit(source), source)


def export(
    output: Annotated[Path, typer.Option(help="Parquet file (or directory with --partition-by-day).")],
    horizon: Horizon = 120,
    last: Last = None,
    start: Start = None,
    end: End = None,
    symbol: Symbol = "BTCUSDT",
    label: Label = "triple",
    r_policy: Annotated[
        str, typer.Option(help="dynamic (docs/design.md §4) or fixed:<r>, e.g. fixed:0.002.")
    ] = "dynamic",
    every: Every = "5s",
    model: Annotated[str, typer.Option(help="Model whose stored predictions fill pred_*.")] = MODEL,
    partition_by_day: Annotated[
        bool, typer.Option(help="Write <output>/date=YYYY-MM-DD/part.parquet.")
    ] = False,
    source: SourceOption = "live",
) -> None:
    """Export a leak-safe labelled dataset (point-in-time features, predictions, labels) to Parquet."""
    params = _params(symbol, horizon, label, r_policy, every, time_range(last, start, end), model)
    try:
        check_writable(output / "x" if partition_by_day else output)
    except ExportError as exc:
        fail(str(exc))
    # A range of one chunk finishes in seconds; longer ones report each day (rows, rate, ETA) on stderr.
    chunks = chunk_bounds(params.start, params.end, DAY_S)
    tracker = Progress((params.end - params.start).total_seconds())

    def progress(lo_ms: int, hi_ms: int, rows: int) -> None:
        tracker.step((hi_ms - lo_ms) / 1000, f"exported {ms_to_dt(lo_ms):%Y-%m-%d %H:%M}", rows, "rows")

    # Two connections: the Binance bars and the other sources are read by two PostgreSQL backends at once.
    with _connection(source) as conn, _connection(source) as second:
        try:
            result = export_dataset(
                conn,
                params,
                output,
                partition_by_day=partition_by_day,
                progress=progress if len(chunks) > 1 else None,
                second_conn=second,
                source=source,
            )
        except ExportError as exc:
            fail(str(exc))
    for line in summary_lines(params, result):
        typer.echo(line)
    if result.stats.rows == 0:
        typer.echo("note: no labelled row in the range (see dropped); run the bot longer", err=True)
    if result.file_violations:
        fail(f"{result.file_violations} rows of the written file have label_ts < t0 + horizon", code=1)


labels_app = typer.Typer(
    help="Label studies (distribution under fixed and dynamic r_t).", no_args_is_help=True
)


@labels_app.command("study")
def study(
    last: Last = None,
    start: Start = None,
    end: End = None,
    symbol: Symbol = "BTCUSDT",
    horizon: Horizon = 120,
    label: Label = "triple",
    every: Every = "5s",
    fixed: Annotated[str, typer.Option(help="Comma-separated fixed r_t values (fractions).")] = ",".join(
        f"{r:g}" for r in FIXED_R
    ),
    png: Annotated[Path, typer.Option(help="Where to write the plot.")] = Path(
        "data/datasets/label_study.png"
    ),
    source: SourceOption = "live",
) -> None:
    """Label distribution under several fixed r_t and the dynamic policy: a table and a PNG plot."""
    try:
        rs = tuple(float(x) for x in fixed.split(",") if x.strip())
    except ValueError:
        fail(f"--fixed expects comma-separated numbers like 0.001,0.002, got {fixed!r}")
    if not rs or any(r <= 0 for r in rs):
        fail(f"--fixed values must be > 0, got {fixed!r}")
    params = _params(symbol, horizon, label, "dynamic", every, time_range(last, start, end), MODEL)
    with _connection(source) as conn:
        try:
            result = label_study(conn, params, rs)
        except ExportError as exc:
            fail(str(exc))
    vol = result.vol.realised_vol()
    typer.echo(
        f"label study {symbol} {params.start:%Y-%m-%d %H:%M:%S} .. {params.end:%Y-%m-%d %H:%M:%S} UTC,"
        f" {label}, H = {horizon} s, every {params.every_s} s"
    )
    if vol["sigma_1s"] is not None:
        typer.echo(
            f"volatility: sigma_1s {vol['sigma_1s']:.3e}, over H {100 * float(vol['horizon'] or 0):.4f} %"
        )
    for line in table_lines(result) + explain(result):
        typer.echo(line)
    try:
        plot(result, png)
    except OSError as exc:
        fail(f"cannot write the plot {png}: {exc.strerror or exc}")
    typer.echo(f"plot {png}")
