"""The embedded PostgreSQL server (the `pgserver` package), used when DB_URL is unset.

The server is started on demand and keeps running after the starting process exits (like any database
server); `cqt db down` stops it. As root, pgserver runs postgres as the `pgserver` system user.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from typing import Any


def _pgserver() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root shells, CI); it is harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


def psql_binary() -> Path:
    """The ``psql`` shipped with the embedded server (the benchmarks' libpq baseline)."""
    return Path(_pgserver().__file__).parent / "pginstall" / "bin" / "psql"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started or stopped; the message includes its log tail."""


def _log_tail(data_dir: Path, lines: int = 5) -> str:
    log_file = data_dir / "log"
    try:
        tail = log_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(tail)


def start(data_dir: Path) -> str:
    """Start (or attach to) the embedded server under `data_dir`; return its connection URI."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        pg = _pgserver()
        server = pg.get_server(data_dir, cleanup_mode=None)
        if running_pid(data_dir) is None:
            # get_server caches one handle per directory per process and does not notice a server that
            # was stopped since (cqt db down, tests): start it again under pgserver's own lock.
            with pg.PostgresServer._lock:
                server.ensure_postgres_running()
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise EmbeddedServerError(
            f"embedded PostgreSQL under {data_dir} failed to start ({exc}); log: {_log_tail(data_dir)}"
        ) from exc
    return str(server.get_uri())


def running_pid(data_dir: Path) -> int | None:
    """PID of the postmaster running on `data_dir`, or None."""
    pid_file = data_dir.resolve() / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return None
    except PermissionError:  # exists, owned by the pgserver user
        return pid
    return pid


def stop(data_dir: Path) -> bool:
    """Stop the embedded server under `data_dir`; False if none was running."""
    data_dir = data_dir.resolve()
    if running_pid(data_dir) is None:
        return False
    pg = _pgserver()
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=60)
    except subprocess.SubprocessError as exc:
        raise EmbeddedServerError(f"could not stop the embedded server under {data_dir}: {exc}") from exc
    return True
