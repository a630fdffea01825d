"""Numbered SQL migrations, applied in order and recorded in `schema_migrations`.

Files are named `NNNN_description.sql`. Each runs in its own transaction together with the row that
records it, so a failing migration leaves the schema exactly as it was. Re-running is a no-op. An applied
migration whose file changed since is an error: schema history is append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import psycopg

PACKAGED = Path(str(files("cqt.db").joinpath("migrations")))
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Serialises concurrent migrators (two bots starting at once); any constant unique to this purpose.
_LOCK_KEY = 0x637174_0001


class MigrationError(RuntimeError):
    """A migration failed or the recorded history disagrees with the files."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = PACKAGED) -> list[Migration]:
    """The migrations in `directory`, sorted by version; malformed names and duplicates are errors."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.stem, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _ensure_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer     PRIMARY KEY,
            name        text        NOT NULL,
            checksum    text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def applied(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the migrations recorded in the database."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def pending(conn: psycopg.Connection[Any], directory: Path = PACKAGED) -> list[Migration]:
    """Migrations not yet applied; raises if an applied one was edited."""
    done = applied(conn)
    todo = []
    for mig in discover(directory):
        if mig.version in done:
            if done[mig.version][1] != mig.checksum:
                raise MigrationError(
                    f"migration {mig.name} was changed after it was applied; add a new migration instead"
                )
        else:
            todo.append(mig)
    return todo


def migrate(conn: psycopg.Connection[Any], directory: Path = PACKAGED) -> list[Migration]:
    """Apply every pending migration in order; return the ones applied. `conn` must be in autocommit."""
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection: each migration is its own transaction")
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        _ensure_table(conn)
        done = []
        for mig in pending(conn, directory):
            try:
                with conn.transaction():
                    conn.execute(mig.sql.encode())  # bytes: a plain multi-statement script, no parameters
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {mig.name} failed and was rolled back: {exc}") from exc
            done.append(mig)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def current_version(conn: psycopg.Connection[Any]) -> int:
    """Highest applied migration version, 0 for an empty database."""
    return max(applied(conn), default=0)
