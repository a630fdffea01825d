"""`cqt bars rebuild`: re-aggregate stored trades and quotes into `market_1s` (docs/design.md §3).

Use it after a long outage filled from REST, or after a gap was closed, so the bars hold every stored
trade; rebuilt bars get `revision` past the stored one and `recv_ts` from their inputs (see
`cqt.bars_rebuild`). Seconds no bot run collected become `gap`; a stored bar with more trades than the
stored trades give is kept and counted. Works an hour at a time so memory stays bounded on long ranges;
progress goes to stderr once per symbol and UTC day, the summary to stdout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from cqt.bars_rebuild import Rebuilt, rebuild
from cqt.cli.common import SourceOption, fail, settings_or_exit, utc_option
from cqt.cli.db import open_db
from cqt.cli.progress import Progress

app = typer.Typer(
    help="One-second bars: rebuild them from the stored trades and quotes.", no_args_is_help=True
)

CHUNK = timedelta(hours=1)
SECOND = timedelta(seconds=1)
EXCHANGES = ("binance", "upbit")
SHOWN_CONFLICTS = 5


def bar_end(text: str, option: str) -> datetime:
    """A bar end given to ``option``: an ISO time (UTC if no offset) on a whole second."""
    when = utc_option(text, option)
    if when.microsecond:
        fail(f"{option}: bars end on whole seconds; got {text!r}")
    return when


def day_slices(first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    """``[first, last]`` cut into inclusive bar ranges ending at UTC midnight (the bar ending at midnight
    closes its day)."""
    out = []
    start = first
    while start <= last:
        end = min(datetime.combine(start.date(), datetime.min.time(), start.tzinfo) + timedelta(days=1), last)
        out.append((start, end))
        start = end + SECOND
    return out


@app.command("rebuild")
def rebuild_cmd(
    start: Annotated[
        str, typer.Option(help="First bar end to rebuild (ISO, UTC), e.g. 2026-11-20T10:00:00Z.")
    ],
    end: Annotated[str, typer.Option(help="Last bar end to rebuild (ISO, UTC), inclusive.")],
    exchange: Annotated[str, typer.Option(help="binance, upbit or all.")] = "all",
    symbol: Annotated[
        list[str] | None, typer.Option(help="Symbol to rebuild (repeatable); default: every one with trades.")
    ] = None,
    source: SourceOption = "live",
) -> None:
    """Recompute the bars of [START, END] from stored trades and quotes and upsert them."""
    first, last = bar_end(start, "--start"), bar_end(end, "--end")
    if last < first:
        fail(f"--end {end} is before --start {start}")
    if exchange not in (*EXCHANGES, "all"):
        fail(f"--exchange: expected binance, upbit or all, got {exchange!r}")
    venues = EXCHANGES if exchange == "all" else (exchange,)
    settings = settings_or_exit(source)
    with open_db(settings, source) as conn:
        targets = [
            (str(x), str(s))
            for x, s in conn.execute(
                "SELECT DISTINCT exchange, symbol FROM trades WHERE exchange = ANY(%s) AND ts BETWEEN %s AND %s"
                " ORDER BY 1, 2",
                (list(venues), first - SECOND, last),
            )
            if not symbol or s in {v.upper() for v in symbol}
        ]
        if not targets:
            fail(
                f"no stored trades between {first:%Y-%m-%d %H:%M:%S} and {last:%Y-%m-%d %H:%M:%S} UTC", code=1
            )
        days = day_slices(first, last)
        span_s = (last - first).total_seconds() + 1
        total, progress = Rebuilt(), Progress(len(targets) * span_s)
        conflicts: list[str] = []
        for x, s in targets:
            for day_first, day_last in days:
                day = Rebuilt()
                chunk_start = day_first
                while chunk_start <= day_last:
                    chunk_end = min(chunk_start + CHUNK - SECOND, day_last)
                    day.add(rebuild(conn, x, s, chunk_start, chunk_end, uncollected_are_gaps=True))
                    chunk_start = chunk_end + SECOND
                total.add(day)
                conflicts += [f"{x} {s} {ts:%Y-%m-%d %H:%M:%S}" for ts in day.fewer_trades]
                progress.step(
                    (day_last - day_first).total_seconds() + 1,
                    f"{x} {s} {day_first:%Y-%m-%d %H:%M:%S} .. {day_last:%H:%M:%S} ({day.inputs} trades and"
                    " quotes)",
                    day.written,
                    "bars",
                )
        if conflicts:
            shown = ", ".join(conflicts[:SHOWN_CONFLICTS]) + (
                ", ..." if len(conflicts) > SHOWN_CONFLICTS else ""
            )
            typer.echo(
                f"warning: {len(conflicts)} second(s) have a stored bar with more trades than the stored trades"
                f" give; those bars were kept, not replaced: {shown}",
                err=True,
            )
        typer.echo(
            f"rebuilt {total.written} bars for {len(targets)} symbol(s): {total.replaced} replaced,"
            f" {total.gap} gap seconds, {len(conflicts)} fewer-trade conflicts (stored bars kept)"
        )
