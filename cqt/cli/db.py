"""`cqt db ...`: start, stop, inspect, migrate and check the database."""

from __future__ import annotations

import psycopg
import typer

from cqt.cli.common import fail, settings_or_exit
from cqt.config import Settings
from cqt.db import embedded
from cqt.db.connect import DbTarget, resolve
from cqt.db.embedded import EmbeddedServerError
from cqt.db.migrate import MigrationError, current_version, discover, migrate, pending

app = typer.Typer(
    help="Database: the embedded server or DB_URL, migrations and checks.", no_args_is_help=True
)


def _fix_hint(settings: Settings) -> str:
    if settings.db_url is not None:
        return (
            "fix: start PostgreSQL at that address (or correct DB_URL in the environment/.env), "
            "or unset DB_URL to use the embedded server (`cqt db up`)"
        )
    return f"fix: check that {settings.pg_data_dir} is writable, then `cqt db up`; or set DB_URL"


def _target(settings: Settings) -> DbTarget:
    try:
        return resolve(settings)
    except EmbeddedServerError as exc:
        fail(f"DB_CONNECT_FAIL: {exc}; {_fix_hint(settings)}")


def _connect(settings: Settings, target: DbTarget) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(target.conninfo, autocommit=True)
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"DB_CONNECT_FAIL: {cause} (tried {target.display}); {_fix_hint(settings)}")


def open_db(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the configured database (UTC, autocommit), or exit 2 with the cause and the fix."""
    return _connect(settings, _target(settings))


@app.command("check")
def check() -> None:
    """Connect and run SELECT 1: prints DB_CONNECT_OK and exits 0, or the cause and the fix and exits 2."""
    settings = settings_or_exit()
    target = _target(settings)
    with _connect(settings, target) as conn:
        row = conn.execute(
            "SELECT 1, current_setting('TimeZone'), current_setting('server_version')"
        ).fetchone()
        if row is None or row[0] != 1:
            fail(f"DB_CONNECT_FAIL: SELECT 1 returned {row!r} (tried {target.display})")
        typer.echo(f"DB_CONNECT_OK {target.display} PostgreSQL {row[2]} TimeZone={row[1]}")


@app.command("up")
def up() -> None:
    """Start the embedded server (when DB_URL is unset) and apply pending migrations."""
    settings = settings_or_exit()
    target = _target(settings)
    with _connect(settings, target) as conn:
        _apply(conn)
    typer.echo(f"database ready: {target.display}")


@app.command("down")
def down() -> None:
    """Stop the embedded server. Does nothing to a server named by DB_URL."""
    settings = settings_or_exit()
    if settings.db_url is not None:
        typer.echo("DB_URL is set: that server is not managed by cqt; nothing stopped")
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
def status() -> None:
    """Which database is configured, whether it answers, and the schema version."""
    settings = settings_or_exit()
    if settings.db_url is None:
        pid = embedded.running_pid(settings.pg_data_dir)
        state = f"running (pid {pid})" if pid else "stopped (starts on demand, or `cqt db up`)"
        typer.echo(f"embedded server under {settings.pg_data_dir}: {state}")
        if pid is None:
            return
    target = _target(settings)
    with _connect(settings, target) as conn:
        todo = pending(conn)
        typer.echo(f"database: {target.display}")
        typer.echo(
            f"schema version: {current_version(conn)} (latest {discover()[-1].version}, {len(todo)} pending)"
        )


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations in order (a no-op when up to date)."""
    settings = settings_or_exit()
    target = _target(settings)
    with _connect(settings, target) as conn:
        _apply(conn)


def _apply(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    try:
        done = migrate(conn)
    except MigrationError as exc:
        fail(str(exc))
    for mig in done:
        typer.echo(f"applied {mig.name}")
    typer.echo(f"schema version {current_version(conn)}: up to date")
