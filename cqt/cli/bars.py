"""`cqt bars rebuild`: re-aggregate stored trades and quotes into `market_1s` (DESIGN §3).

Use it after a long outage filled from REST, or after a gap was closed, so the bars hold every stored
trade; rebuilt bars get `revision` past the stored one. Works an hour at a time so memory stays bounded
on long ranges, and prints one progress line per hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from cqt.bars_rebuild import rebuild_range
from cqt.cli.common import fail, settings_or_exit, utc_option
from cqt.cli.db import open_db

app = typer.Typer(
    help="One-second bars: rebuild them from the stored trades and quotes.", no_args_is_help=True
)

CHUNK = timedelta(hours=1)
EXCHANGES = ("binance", "upbit")


def bar_end(text: str, option: str) -> datetime:
    """A bar end given to ``option``: an ISO time (UTC if no offset) on a whole second."""
    when = utc_option(text, option)
    if when.microsecond:
        fail(f"{option}: bars end on whole seconds; got {text!r}")
    return when


@app.command("rebuild")
def rebuild(
    start: Annotated[
        str, typer.Option(help="First bar end to rebuild (ISO, UTC), e.g. 2026-11-20T10:00:00Z.")
    ],
    end: Annotated[str, typer.Option(help="Last bar end to rebuild (ISO, UTC), inclusive.")],
    exchange: Annotated[str, typer.Option(help="binance, upbit or all.")] = "all",
    symbol: Annotated[
        list[str] | None, typer.Option(help="Symbol to rebuild (repeatable); default: every one with trades.")
    ] = None,
) -> None:
    """Recompute the bars of [START, END] from stored trades and quotes and upsert them."""
    first, last = bar_end(start, "--start"), bar_end(end, "--end")
    if last < first:
        fail(f"--end {end} is before --start {start}")
    if exchange not in (*EXCHANGES, "all"):
        fail(f"--exchange: expected binance, upbit or all, got {exchange!r}")
    venues = EXCHANGES if exchange == "all" else (exchange,)
    settings = settings_or_exit()
    with open_db(settings) as conn:
        targets = [
            (str(x), str(s))
            for x, s in conn.execute(
                "SELECT DISTINCT exchange, symbol FROM trades WHERE exchange = ANY(%s) AND ts BETWEEN %s AND %s"
                " ORDER BY 1, 2",
                (list(venues), first - timedelta(seconds=1), last),
            )
            if not symbol or s in {v.upper() for v in symbol}
        ]
        if not targets:
            fail(
                f"no stored trades between {first:%Y-%m-%d %H:%M:%S} and {last:%Y-%m-%d %H:%M:%S} UTC", code=1
            )
        total = 0
        for x, s in targets:
            chunk_start = first
            while chunk_start <= last:
                chunk_end = min(chunk_start + CHUNK - timedelta(seconds=1), last)
                written = rebuild_range(conn, x, s, chunk_start, chunk_end)
                total += written
                typer.echo(f"{x} {s} {chunk_start:%Y-%m-%d %H:%M:%S} .. {chunk_end:%H:%M:%S}: {written} bars")
                chunk_start = chunk_end + timedelta(seconds=1)
        typer.echo(f"rebuilt {total} bars for {len(targets)} symbol(s)")
