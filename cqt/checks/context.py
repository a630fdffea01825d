"""What every check runs against: a read-only database session, the window and the selected symbols.

Decisions:

* The window is ``[now - N s, now]`` with ``now`` = the database's ``now()``, read once, so every query
  of a check sees the same instant and no local clock is involved.
* A check never starts the embedded server. ``cqt db check`` starts it on demand, but a check is a
  read-only diagnostic: a server it had just started would hold no fresh data, and a process left
  behind by a diagnostic surprises people. With ``DB_URL`` unset and the embedded server stopped the
  check cannot run (exit 2) and says ``cqt db up`` (or set ``DB_URL``).
* The session is ``default_transaction_read_only``: a check cannot write, whatever its SQL.
* A database behind on migrations cannot be judged (a missing table would look like missing data):
  exit 2 with ``cqt db migrate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from cqt.config import Settings
from cqt.db import embedded
from cqt.db.connect import resolve
from cqt.db.embedded import EmbeddedServerError
from cqt.db.migrate import MigrationError, pending
from cqt.predict.features import collected_upbit_market


class CannotRun(RuntimeError):
    """The check could not run (exit 2); the message says why and how to fix it."""


@dataclass(frozen=True)
class Window:
    """``[now - seconds, now]`` on the database clock."""

    now: datetime
    seconds: int

    @property
    def start(self) -> datetime:
        return self.now - timedelta(seconds=self.seconds)


@dataclass
class CheckContext:
    """One check run: the connection, the window, the settings and what to look at."""

    conn: psycopg.Connection[Any]
    settings: Settings
    window: Window
    binance_symbols: list[str]
    upbit_markets: list[str]
    dataset: Path | None = None


def selected(settings: Settings, symbol: str | None) -> tuple[list[str], list[str]]:
    """(Binance symbols, Upbit markets) to check: all configured ones, or the one named by ``--symbol``.

    ``--symbol BTCUSDT`` selects the Binance symbol and its Upbit market ``KRW-BTC`` when that market is
    collected; ``--symbol KRW-BTC`` selects that Upbit market only.
    """
    if symbol is None:
        return list(settings.binance_symbols), list(settings.upbit_markets)
    s = symbol.strip().upper()
    if s.startswith("KRW-"):
        return [], [s]
    market = collected_upbit_market(s, settings.upbit_markets)
    return [s], [market] if market else []


def _fix(settings: Settings) -> str:
    if settings.db_url is not None and settings.db_url.get_secret_value().strip():
        return "fix: start PostgreSQL at that address or correct DB_URL (environment or .env)"
    return f"fix: `cqt db up` to start the embedded server under {settings.pg_data_dir}, or set DB_URL"


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """A read-only autocommit session on the configured database, or :class:`CannotRun`."""
    use_url = settings.db_url is not None and settings.db_url.get_secret_value().strip()
    if not use_url and embedded.running_pid(settings.pg_data_dir) is None:
        raise CannotRun(
            f"the embedded PostgreSQL under {settings.pg_data_dir} is not running; {_fix(settings)}"
        )
    try:
        target = resolve(settings)
    except EmbeddedServerError as exc:
        raise CannotRun(f"{exc}; {_fix(settings)}") from exc
    try:
        conn = psycopg.connect(target.conninfo, autocommit=True)
    except psycopg.Error as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CannotRun(f"database unreachable: {cause} (tried {target.display}); {_fix(settings)}") from exc
    try:
        conn.execute("SET default_transaction_read_only = on")
        todo = pending(conn)
    except (psycopg.Error, MigrationError) as exc:
        conn.close()
        raise CannotRun(f"cannot read the schema of {target.display}: {exc}") from exc
    if todo:
        conn.close()
        names = ", ".join(m.name for m in todo)
        raise CannotRun(f"{target.display} is behind on migrations ({names}); fix: `cqt db migrate`")
    return conn


@contextmanager
def open_context(
    settings: Settings, window_s: int, symbol: str | None = None, dataset: Path | None = None
) -> Iterator[CheckContext]:
    """A :class:`CheckContext` whose connection is closed afterwards; :class:`CannotRun` if no database."""
    conn = connect(settings)
    try:
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        binance, upbit = selected(settings, symbol)
        yield CheckContext(conn, settings, Window(row[0], window_s), binance, upbit, dataset)
    finally:
        conn.close()
