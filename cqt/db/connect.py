"""Which PostgreSQL server to use and how to connect to it.

`DB_URL` wins when set; otherwise the embedded server under `PG_DATA_DIR` is started on demand. Every
connection runs with `TimeZone=UTC` so `timestamptz` values never pick up a local offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cqt.config import Settings
from cqt.db import embedded
from cqt.db import url as db_url

UTC_OPTIONS = "-c TimeZone=UTC"


@dataclass(frozen=True)
class DbTarget:
    """A resolved database: the full conninfo (secret) and a printable description."""

    conninfo: str
    display: str
    embedded: bool


def with_utc(conninfo: str, connect_timeout_s: int) -> str:
    """`conninfo` plus the session options every cqt connection uses."""
    params = conninfo_to_dict(conninfo)
    options = " ".join(filter(None, [str(params.get("options", "")), UTC_OPTIONS]))
    return make_conninfo(conninfo, options=options, connect_timeout=str(connect_timeout_s))


def resolve(settings: Settings, start_embedded: bool = True) -> DbTarget:
    """Resolve the database to use; start the embedded server if that is the one and it is asked for."""
    if settings.db_url is not None and settings.db_url.get_secret_value().strip():
        url = settings.db_url.get_secret_value().strip()
        return DbTarget(with_utc(url, settings.db_connect_timeout_s), db_url.display(url), embedded=False)
    data_dir = settings.pg_data_dir
    if not start_embedded:
        return DbTarget("", f"embedded server under {data_dir} (not started)", embedded=True)
    uri = embedded.start(data_dir)
    return DbTarget(
        with_utc(uri, settings.db_connect_timeout_s), f"embedded server under {data_dir}", embedded=True
    )


def connect(settings: Settings, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """A new connection to the configured database, in UTC."""
    return psycopg.connect(resolve(settings).conninfo, autocommit=autocommit)
