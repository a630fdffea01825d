"""`python -m cqt.bot` and `cqt bot`: run the bot (exit 0 after a clean stop, 1 on a crash, 2 if it
could not start: bad settings, database unreachable, metrics port in use, another bot already collecting
the same shards). A run that started prints its summary to stdout when it stops (`cqt.bot.summary`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from cqt.bot.daemon import (
    Bot,
    BotOptions,
    StartError,
    check_symbols,
    effective_settings,
    prepare_database,
    setup_file_log,
    source_settings,
)
from cqt.bot.summary import report
from cqt.cli.common import fail, settings_or_exit

log = logging.getLogger("cqt.bot")


def _kill_spec(spec: str | None) -> tuple[str, float] | None:
    if spec is None:
        return None
    name, _, seconds = spec.partition("@")
    try:
        return name, float(seconds)
    except ValueError:
        fail(f"--kill-task expects COMPONENT@SECONDS, e.g. binance-ws@20, got {spec!r}")


def _symbols(option: str | None) -> tuple[str, ...]:
    """`--symbols` split on commas; given but naming no symbol (`,`) is an error, not the default."""
    if option is None:
        return ()
    symbols = tuple(s.strip() for s in option.split(",") if s.strip())
    if not symbols:
        fail(f"--symbols: no symbol in {option!r}; give Binance symbols like BTCUSDT,ETHUSDT")
    return symbols


def bot(
    source: Annotated[
        str,
        typer.Option(
            help="live: the real venues; sim: start the local simulator in-process and store into the"
            " simulator's own database (SIM_DB_URL, else the embedded server under SIM_PG_DATA_DIR)."
        ),
    ] = "live",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until signalled).", min=1)
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated Binance symbols (Upbit markets follow: BTCUSDT -> KRW-BTC)."),
    ] = None,
    sim_rate: Annotated[
        float, typer.Option(help="--source sim: market-data messages per second.", min=1)
    ] = 300.0,
    sim_seed: Annotated[
        int | None,
        typer.Option(
            help="--source sim: seed of the synthetic market (default 7); ids and prices continue"
            " from the start time, so runs never repeat one another."
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(help="Label horizon H in seconds (default 120; 30 with --source sim).", min=1),
    ] = None,
    kill_task: Annotated[str | None, typer.Option(hidden=True, help="Test hook: COMPONENT@SECONDS.")] = None,
) -> None:
    """Collect, build bars, predict and settle until stopped (SIGINT/SIGTERM) or --duration elapses."""
    settings = settings_or_exit(source)
    opts = BotOptions(
        source=source,
        duration_s=duration,
        symbols=_symbols(symbols),
        kill_task=_kill_spec(kill_task),
        sim_rate=sim_rate,
        sim_seed=sim_seed,
        horizon_s=horizon,
    )
    try:
        settings = effective_settings(settings, opts)
    except ValueError as exc:
        fail(f"--symbols: {exc}")
    try:
        log_path = setup_file_log(settings.log_dir)
        with source_settings(settings, opts) as run_settings:
            check_symbols(run_settings)
            target = prepare_database(run_settings, source)
            log.info("database: %s; log file: %s", target.display, log_path)
            run = Bot(run_settings, opts, target.conninfo)
            try:
                code = asyncio.run(run.run())
            finally:
                # A run row PostgreSQL did not take at the stop: asking it again for the summary could
                # outlast Docker's grace (docs/design.md §5.7).
                lines = (
                    report(target.conninfo, run.record.run_id, target, run_settings, source, opts.horizon)
                    if run.closed or run.record.run_id is None
                    else [f"run {run.record.run_id}: no summary, PostgreSQL was unavailable at the stop"]
                )
                for line in lines:
                    typer.echo(line)
    except StartError as exc:
        fail(f"bot not started: {exc}")
    except Exception as exc:
        log.critical("bot crashed: %r", exc)
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


def main() -> None:
    """Entry point of `python -m cqt.bot`."""
    typer.run(bot)
