"""ALT-5 item 3: start `cqt dashboard` on a free loopback port and ask Streamlit's real health route.

`/_stcore/health` answers the body `ok` only when the Streamlit server is up; a catch-all route (such as
`/healthz` behind some proxies) answers 200 for any path, so the gate also asks an unknown `/_stcore`
path and requires that it does not say `ok`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cqt.gate.commands import DASHBOARD
from cqt.gate.items import GUIDES
from cqt.gate.verdict import GateFailure

HEALTH_PATH = "/_stcore/health"
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read(200).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def dashboard_health(root: Path, log_path: Path) -> str:
    """PASS evidence, or GateFailure when the command is missing, exits, or never answers `ok`."""
    missing = DASHBOARD.missing(root)
    if missing is not None:
        raise GateFailure(f"{missing} — {GUIDES['entrypoint']}")
    port = free_port()
    env = {**os.environ, "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": str(port)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            DASHBOARD.argv(), cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return _wait_healthy(proc, port, started, log_path)
        finally:
            _stop(proc)


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, started: float, log_path: Path) -> str:
    base = f"http://127.0.0.1:{port}"
    last = "no answer yet"
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-4:])
            raise GateFailure(f"`cqt dashboard` exited {proc.returncode} before answering: {tail}")
        try:
            status, body = _get(base + HEALTH_PATH)
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
            time.sleep(0.5)
            continue
        if status == 200 and body == "ok":
            other_status, other_body = _get(base + "/_stcore/no-such-route")
            if other_body == "ok":
                raise GateFailure(
                    f"{base}/_stcore/no-such-route also answers `ok`: not Streamlit's health route"
                )
            return (
                f"GET {base}{HEALTH_PATH} -> 200 `ok` {time.monotonic() - started:.1f} s after start"
                f" (an unknown /_stcore path -> {other_status} without `ok`)"
            )
        last = f"HTTP {status} {body[:60]!r}"
        time.sleep(0.5)
    raise GateFailure(
        f"{base}{HEALTH_PATH} did not answer `ok` within {START_TIMEOUT_S:.0f} s (last: {last})"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: streamlit and anything it spawned
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
