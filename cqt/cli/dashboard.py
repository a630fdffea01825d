"""`cqt dashboard`: start the Streamlit dashboard with safe server settings.

It binds DASHBOARD_HOST (127.0.0.1 unless told otherwise); any other address needs DASHBOARD_PASSWORD,
which the app then asks for before any page (without it the command refuses to start). It keeps
Streamlit's XSRF protection and CORS checks on, runs headless with usage statistics off, never reloads
on file changes and shows exception types only (messages and tracebacks go to the console), so no
connection string reaches a browser.
Liveness: `GET /_stcore/health` answers `ok` once the server runs (any other path answers 200 too).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cqt.cli.common import SourceOption, fail, settings_or_exit

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def server_args(host: str, port: int, source: str = "live") -> list[str]:
    """`streamlit run` arguments for the dashboard of `source`'s database on host:port."""
    return [
        "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.enableXsrfProtection", "true",
        "--server.enableCORS", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "type",
        "--client.toolbarMode", "viewer",
        "--global.developmentMode", "false",
        "--", "--source", source,
    ]  # fmt: skip


def is_loopback(host: str) -> bool:
    """True when `host` can only be reached from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def dashboard(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default DASHBOARD_HOST, 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default DASHBOARD_PORT, 8501).", min=1, max=65_535)
    ] = None,
    source: SourceOption = "live",
) -> None:
    """Serve the dashboard (market, collection health, predictions, labels, gates) until Ctrl-C."""
    settings = settings_or_exit(source)
    host = host if host is not None else settings.dashboard_host
    port = port if port is not None else settings.dashboard_port
    if not is_loopback(host) and not settings.dashboard_password_set:
        fail(
            f"dashboard not started: {host} is reachable from other machines and DASHBOARD_PASSWORD is not"
            " set (empty or a placeholder); set DASHBOARD_PASSWORD (the dashboard then asks for it) or bind"
            " 127.0.0.1 (DASHBOARD_HOST, --host)"
        )
    if not APP.is_file():
        fail(f"dashboard script missing: {APP} (reinstall cqt)")
    gate = "password required" if settings.dashboard_password_set else "no password"
    typer.echo(
        f"cqt dashboard ({source} database, {gate}) on http://{host}:{port} (health: /_stcore/health);"
        " Ctrl-C to stop",
        err=True,
    )
    # exec: the server is this process, so a supervisor's signal reaches Streamlit directly.
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", *server_args(host, port, source)])
