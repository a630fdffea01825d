"""The dashboard beyond loopback (issue 18): binding anything but 127.0.0.1 / localhost / ::1 needs
DASHBOARD_PASSWORD, and with a password set the app asks for it before it draws any page."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cqt.cli.dashboard import is_loopback
from tests.dashboard.server import CHROMIUM, NO_BROWSER, browser, dashboard, http_get
from tests.foundation.cli_runner import run_cqt
from tests.settings_env import clean_environ

needs_browser = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason=NO_BROWSER)

PASSWORD = "Plum-Orbit-4471"
REFUSED = "dashboard not started: {host} is reachable from other machines and DASHBOARD_PASSWORD is not set"


def _unreachable_db() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])  # nothing listens there once it is closed
    return f"postgresql://cqt:dbpw@127.0.0.1:{port}/cqt"


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.7", "dashboard.example", ""))


@pytest.mark.parametrize(
    ("env", "args", "host"),
    [
        ({}, ["--host", "0.0.0.0"], "0.0.0.0"),
        ({"DASHBOARD_HOST": "192.0.2.7"}, [], "192.0.2.7"),
        ({"DASHBOARD_PASSWORD": "change-me"}, ["--host", "::"], "::"),  # a placeholder is no password
    ],
)
def test_beyond_loopback_without_a_password_is_refused(
    tmp_path: Path, env: dict[str, str], args: list[str], host: str
) -> None:
    result = run_cqt("dashboard", *args, cwd=tmp_path, env={"DB_URL": _unreachable_db(), **env})
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(REFUSED.format(host=host)) and "bind 127.0.0.1" in last, last


def test_beyond_loopback_with_a_password_starts(tmp_path: Path) -> None:
    env = clean_environ(DB_URL=_unreachable_db(), DASHBOARD_PASSWORD=PASSWORD)
    with dashboard(tmp_path, env, "--host", "0.0.0.0") as dash:
        assert http_get(f"{dash.base}/_stcore/health") == (200, "ok")
    log = (tmp_path / "dashboard.log").read_text()
    assert "password required" in log and PASSWORD not in log


@needs_browser
def test_the_app_asks_for_the_password_before_any_page(tmp_path: Path) -> None:
    env = clean_environ(DB_URL=_unreachable_db(), DASHBOARD_PASSWORD=PASSWORD)
    with dashboard(tmp_path, env) as dash, browser() as b:
        page = b.new_page()
        for path in ("", "health"):
            page.goto(f"{dash.base}/{path}")
            field = page.get_by_label("Password (DASHBOARD_PASSWORD)")
            field.wait_for(timeout=60_000)
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "Updated " not in text and "Database:" not in page.content()
        field.fill("not-it")
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_text("Wrong password.")).to_be_visible(timeout=30_000)
        assert page.get_by_text("Updated ", exact=False).count() == 0
        page.get_by_label("Password (DASHBOARD_PASSWORD)").fill(PASSWORD)
        page.get_by_role("button", name="Open").click()
        page.get_by_text("Updated ", exact=False).last.wait_for(timeout=60_000)
        assert "unavailable" in page.locator('[data-testid="stSidebar"]').inner_text()
        # the session stays open on the other pages, and the password is never part of a page
        page.get_by_role("link", name="Collection health").click()
        page.wait_for_url("**/health", timeout=60_000)
        page.get_by_text("Updated ", exact=False).last.wait_for(timeout=60_000)
        assert page.get_by_label("Password (DASHBOARD_PASSWORD)").count() == 0
        assert PASSWORD not in page.content()
        # a new browser session (a reload) is asked again
        page.goto(dash.base)
        page.get_by_label("Password (DASHBOARD_PASSWORD)").wait_for(timeout=60_000)
    assert PASSWORD not in (tmp_path / "dashboard.log").read_text()
