"""`cqt db ...` end to end: real servers, real exit codes, messages a user can act on."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.foundation.cli_runner import run_cqt


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # released on close: nothing listens there afterwards


def test_db_check_ok_with_reachable_db_url(fresh_db: str, tmp_path: Path) -> None:
    result = run_cqt("db", "check", cwd=tmp_path, env={"DB_URL": fresh_db})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DB_CONNECT_OK")
    assert "TimeZone=UTC" in result.stdout


def test_db_check_unreachable_names_cause_url_and_fix(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql://cqt:s3cretpw@127.0.0.1:{port}/cqt"
    result = run_cqt("db", "check", cwd=tmp_path, env={"DB_URL": url})
    assert result.returncode == 2
    assert "DB_CONNECT_OK" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    message = lines[0]
    assert message.startswith("DB_CONNECT_FAIL")
    assert "refused" in message.lower()
    assert f"127.0.0.1:{port}" in message
    assert "fix:" in message and "unset DB_URL" in message
    assert "s3cretpw" not in result.stdout + result.stderr


def test_embedded_server_starts_on_demand_and_stops(tmp_path: Path) -> None:
    env = {"PG_DATA_DIR": str(tmp_path / "pg")}
    try:
        check = run_cqt("db", "check", cwd=tmp_path, env=env)
        assert check.returncode == 0, check.stderr
        assert check.stdout.startswith("DB_CONNECT_OK embedded server")
        up = run_cqt("db", "up", cwd=tmp_path, env=env)
        assert up.returncode == 0, up.stderr
        assert "applied 0001_schema_v1" in up.stdout
        again = run_cqt("db", "migrate", cwd=tmp_path, env=env)
        assert again.returncode == 0 and "applied" not in again.stdout
        assert "up to date" in again.stdout
        status = run_cqt("db", "status", cwd=tmp_path, env=env)
        assert "running (pid" in status.stdout and "0 pending" in status.stdout
    finally:
        down = run_cqt("db", "down", cwd=tmp_path, env=env)
    assert down.returncode == 0 and "stopped the embedded server" in down.stdout
    after = run_cqt("db", "status", cwd=tmp_path, env=env)
    assert "stopped" in after.stdout


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_cqt("db", "status", cwd=tmp_path, env={"COINGLASS_ENABLED": "maybe"})
    assert result.returncode == 2
    assert "invalid setting COINGLASS_ENABLED='maybe'" in result.stderr


def test_db_url_masks_the_password_unless_asked(tmp_path: Path) -> None:
    url = f"postgresql://cqt:s3cretpw@127.0.0.1:{_closed_port()}/cqt?sslmode=disable"
    masked = run_cqt("db", "url", cwd=tmp_path, env={"DB_URL": url})
    assert masked.returncode == 0, masked.stderr
    assert masked.stdout.strip() == url.replace("s3cretpw", "***")
    assert "s3cretpw" not in masked.stdout + masked.stderr
    shown = run_cqt("db", "url", "--show-password", cwd=tmp_path, env={"DB_URL": url})
    assert shown.returncode == 0 and shown.stdout.strip() == url


def test_source_sim_selects_the_simulator_database(fresh_db: str, tmp_path: Path) -> None:
    live = f"postgresql://cqt:livepw@127.0.0.1:{_closed_port()}/cqt"
    env = {"DB_URL": live, "SIM_DB_URL": fresh_db}
    assert run_cqt("db", "check", cwd=tmp_path, env=env).returncode == 2
    sim = run_cqt("db", "check", "--source", "sim", cwd=tmp_path, env=env)
    assert sim.returncode == 0 and sim.stdout.startswith("DB_CONNECT_OK"), sim.stderr
    assert run_cqt("db", "url", "--source", "sim", cwd=tmp_path, env=env).stdout.strip() == fresh_db
    up = run_cqt("db", "up", "--source", "sim", cwd=tmp_path, env=env)
    assert up.returncode == 0 and "applied 0001_schema_v1" in up.stdout, up.stderr
    query = "SELECT current_database(), count(*) FROM schema_migrations"
    psql = run_cqt("db", "psql", "--source", "sim", "--", "-Atc", query, cwd=tmp_path, env=env)
    name = fresh_db.split("dbname=")[1].split()[0]
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip().startswith(f"{name}|"), psql.stdout
    down = run_cqt("db", "down", "--source", "sim", cwd=tmp_path, env=env)
    assert down.stdout.strip() == "SIM_DB_URL is set: that server is not managed by cqt; nothing stopped"
