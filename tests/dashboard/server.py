"""Helpers of the dashboard tests: a `cqt dashboard` process on a free port and a Playwright browser
(Debian's chromium, found on PATH) that waits for a page to finish rendering."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "reports" / "screenshots"
PAGES = {"market": "", "health": "health", "predictions": "predictions", "labels": "labels", "gates": "gates"}
START_HINT = "python -m cqt.bot --source sim --duration 120"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class Dashboard:
    proc: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def dashboard(cwd: Path, env: dict[str, str], *args: str) -> Iterator[Dashboard]:
    """`cqt dashboard --port <free> *args` in `cwd`, up once /_stcore/health answers ok; stopped after."""
    port = free_port()
    log = (cwd / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cqt", "dashboard", "--port", str(port), *args],
        cwd=cwd, env=env, text=True, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert proc.poll() is None, (cwd / "dashboard.log").read_text()
            assert time.monotonic() < deadline, "dashboard did not become healthy in 60 s"
            time.sleep(0.3)
        yield Dashboard(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/_stcore/health") == (200, "ok")
    except (urllib.error.URLError, OSError):
        return False


CHROMIUM = shutil.which("chromium")
NO_BROWSER = "Debian's chromium is required (apt-get install chromium; .ci/run installs it)"


@contextmanager
def browser() -> Iterator[Browser]:
    chromium = CHROMIUM
    assert chromium, NO_BROWSER
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def open_page(page: Page, base: str, name: str) -> str:
    """Load a dashboard page, wait until its script has finished (footer drawn, no run in progress) and
    return the main area's text."""
    page.goto(f"{base}/{PAGES[name]}")
    page.get_by_text("Updated ", exact=False).last.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => !(document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || '').includes('Running')",
        timeout=60_000,
    )
    return page.locator('[data-testid="stMain"]').inner_text()


def metric(page: Page, label: str) -> str:
    """The value shown by the st.metric whose label is `label`."""
    box = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def assert_no_exception(page: Page, name: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{name}: {errors.first.inner_text()}"
    assert "Traceback" not in page.content(), name


def screenshot(page: Page, case: str, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{case}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
