"""`cqt db ...`: start, stop, inspect, migrate and check the database, print its URL, open psql.

Every command takes `--source live|sim`: the live database (DB_URL, else the embedded server under
PG_DATA_DIR) or the simulator's (SIM_DB_URL, else the embedded server under SIM_PG_DATA_DIR).
"""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cqt.cli.common import SourceOption, fail, settings_or_exit
from cqt.config import Settings
from cqt.db import embedded
from cqt.db.connect import DbTarget, resolve
from cqt.db.embedded import EmbeddedServerError
from cqt.db.migrate import MigrationError, current_version, discover, migrate, pending
from cqt.db.url import mask

app = typer.Typer(
    help="Database: the embedded server or DB_URL, migrations and checks.", no_args_is_help=True
)


def _fix_hint(settings: Settings, source: str) -> str:
    url, data_dir = ("SIM_DB_URL", "SIM_PG_DATA_DIR") if source == "sim" else ("DB_URL", "PG_DATA_DIR")
    flag = " --source sim" if source == "sim" else ""
    if settings.db_url is not None:
        return (
            f"fix: start PostgreSQL at that address (or correct {url} in the environment/.env), "
            f"or unset {url} to use the embedded server (`cqt db up{flag}`)"
        )
    return f"fix: check that {settings.pg_data_dir} ({data_dir}) is writable, then `cqt db up{flag}`; or set {url}"


def _target(settings: Settings, source: str) -> DbTarget:
    try:
        return resolve(settings)
    except EmbeddedServerError as exc:
        fail(f"DB_CONNECT_FAIL: {exc}; {_fix_hint(settings, source)}")


def _connect(settings: Settings, target: DbTarget, source: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(target.conninfo, autocommit=True)
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"DB_CONNECT_FAIL: {cause} (tried {target.display}); {_fix_hint(settings, source)}")


def open_db(settings: Settings, source: str = "live") -> psycopg.Connection[tuple[object, ...]]:
    """A connection to `source`'s database (UTC, autocommit), or exit 2 with the cause and the fix."""
    return _connect(settings, _target(settings, source), source)


def _server_url(settings: Settings, source: str) -> str:
    """The URL as configured (DB_URL / SIM_DB_URL; settings validated it), or the embedded server's, started
    if need be."""
    if settings.db_url is not None and settings.db_url.get_secret_value().strip():
        return settings.db_url.get_secret_value().strip()
    try:
        return embedded.start(settings.pg_data_dir)
    except EmbeddedServerError as exc:
        fail(f"DB_CONNECT_FAIL: {exc}; {_fix_hint(settings, source)}")


def _password(conninfo: str) -> str | None:
    password = conninfo_to_dict(conninfo).get("password")
    return str(password) if password else None


def _without_password(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    params.pop("password", None)
    return make_conninfo("", **params)


@app.command("check")
def check(source: SourceOption = "live") -> None:
    """Connect and run SELECT 1: prints DB_CONNECT_OK and exits 0, or the cause and the fix and exits 2."""
    settings = settings_or_exit(source)
    target = _target(settings, source)
    with _connect(settings, target, source) as conn:
        row = conn.execute(
            "SELECT 1, current_setting('TimeZone'), current_setting('server_version')"
        ).fetchone()
        if row is None or row[0] != 1:
            fail(f"DB_CONNECT_FAIL: SELECT 1 returned {row!r} (tried {target.display})")
        typer.echo(f"DB_CONNECT_OK {target.display} PostgreSQL {row[2]} TimeZone={row[1]}")


@app.command("up")
def up(source: SourceOption = "live") -> None:
    """Start the embedded server (when DB_URL is unset) and apply pending migrations."""
    settings = settings_or_exit(source)
    target = _target(settings, source)
    with _connect(settings, target, source) as conn:
        _apply(conn)
    typer.echo(f"database ready: {target.display}")


@app.command("down")
def down(source: SourceOption = "live") -> None:
    """Stop the embedded server. Does nothing to a server named by DB_URL."""
    settings = settings_or_exit(source)
    if settings.db_url is not None:
        name = "SIM_DB_URL" if source == "sim" else "DB_URL"
        typer.echo(f"{name} is set: that server is not managed by cqt; nothing stopped")
        return
    try:
        stopped = embedded.stop(settings.pg_data_dir)
    except EmbeddedServerError as exc:
        fail(str(exc))
    typer.echo(
        f"stopped the embedded server under {settings.pg_data_dir}"
        if stopped
        else f"no embedded server running under {settings.pg_data_dir}"
    )


@app.command("status")
def status(source: SourceOption = "live") -> None:
    """Which database is configured, whether it answers, and the schema version."""
    settings = settings_or_exit(source)
    if settings.db_url is None:
        pid = embedded.running_pid(settings.pg_data_dir)
        flag = " --source sim" if source == "sim" else ""
        state = f"running (pid {pid})" if pid else f"stopped (starts on demand, or `cqt db up{flag}`)"
        typer.echo(f"embedded server under {settings.pg_data_dir}: {state}")
        if pid is None:
            return
    target = _target(settings, source)
    with _connect(settings, target, source) as conn:
        todo = pending(conn)
        typer.echo(f"database: {target.display}")
        typer.echo(
            f"schema version: {current_version(conn)} (latest {discover()[-1].version}, {len(todo)} pending)"
        )


@app.command("migrate")
def migrate_cmd(source: SourceOption = "live") -> None:
    """Apply pending migrations in order (a no-op when up to date)."""
    settings = settings_or_exit(source)
    target = _target(settings, source)
    with _connect(settings, target, source) as conn:
        _apply(conn)


@app.command("url")
def url(
    source: SourceOption = "live",
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the password too (it is *** otherwise).")
    ] = False,
) -> None:
    """Print the database's connection URL, password masked (starts the embedded server if that is the one)."""
    raw = _server_url(settings_or_exit(source), source)
    typer.echo(raw if show_password or _password(raw) is None else mask(raw))


@app.command("psql")
def psql(
    source: SourceOption = "live",
    args: Annotated[
        list[str] | None, typer.Argument(help="Passed on to psql (after --), e.g. -- -c 'SELECT 1'.")
    ] = None,
) -> None:
    """Open psql on the database: the embedded server's own psql, or the system's for a DB_URL server."""
    settings = settings_or_exit(source)
    raw = _server_url(settings, source)
    system = shutil.which("psql") if settings.db_url is not None else None
    binary = system or str(embedded.psql_binary())
    env = {**os.environ, "PGTZ": "UTC"}
    password = _password(raw)
    if password is not None:
        env["PGPASSWORD"] = password  # not on the command line, where `ps` would show it
    try:
        os.execvpe(binary, [binary, _without_password(raw), *(args or [])], env)
    except OSError as exc:
        fail(f"cannot run {binary} ({exc.strerror or exc}); install the PostgreSQL client (psql)")


def _apply(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    try:
        done = migrate(conn)
    except MigrationError as exc:
        fail(str(exc))
    for mig in done:
        typer.echo(f"applied {mig.name}")
    typer.echo(f"schema version {current_version(conn)}: up to date")
