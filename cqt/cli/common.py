"""Helpers shared by the subcommands: loading settings and failing with exit code 2."""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import typer

from cqt.config import SOURCES, ConfigError, Settings, UnknownSettingWarning, load_settings

SourceOption = Annotated[
    str,
    typer.Option(
        "--source",
        help="live: the live database (DB_URL or the embedded server under PG_DATA_DIR); sim: the"
        " simulator's (SIM_DB_URL or the embedded server under SIM_PG_DATA_DIR).",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` to stderr and exit with `code` (2 = could not run)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def utc_option(text: str, option: str) -> datetime:
    """The ISO 8601 time given to ``option`` in UTC (no offset means UTC); exits 2 naming the option."""
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected an ISO time like 2026-11-20T12:00:00Z, got {text!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def settings_or_exit(source: str = "live") -> Settings:
    """Load the settings of `source` (see `Settings.for_source`); a bad value exits 2 with the setting
    named, unknown .env keys are warnings."""
    if source not in SOURCES:
        fail(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownSettingWarning)
        try:
            settings = load_settings()
        except ConfigError as exc:
            fail(f"configuration error: {exc}")
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pgserver logs every pg_ctl call at INFO; only its problems are worth a user's attention.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings.for_source(source)
