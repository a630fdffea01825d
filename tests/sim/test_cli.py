"""`python -m cqt.sim` / `cqt sim`: documented options, printed URLs, bad input exit code."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
import pytest
from pydantic import SecretStr

from cqt.config import Settings, env_names
from cqt.sim import SIM_COINGLASS_KEY, SimServer


def _run(*args: str, module: str = "cqt.sim", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env_cols = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=env_cols
    )


@pytest.mark.parametrize("command", [("cqt.sim",), ("cqt", "sim")])
def test_help_documents_ports_seed_rate_and_faults(command: tuple[str, ...]) -> None:
    out = _run(*command[1:], "--help", module=command[0])
    assert out.returncode == 0, out.stderr
    for word in (
        "--seed",
        "--rate",
        "--upbit-port",
        "--binance-port",
        "--coinglass-port",
        "--fault",
        "--duration",
    ):
        assert word in out.stdout
    for kind in ("drop", "stall", "gap", "duplicate", "reorder", "malformed", "http_error", "slow"):
        assert kind in out.stdout


def test_runs_prints_env_lines_and_serves() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cqt.sim",
            "--duration",
            "3",
            "--fault",
            "gap:venue=binance,symbol=BTCUSDT,count=2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    env: dict[str, str] = {}
    for line in proc.stdout:
        if "=" in line and line.split("=", 1)[0].isupper():
            key, value = line.strip().split("=", 1)
            env[key] = value
        if "COINGLASS_API_KEY" in env:
            break
    assert set(env) >= {"UPBIT_WS_URL", "BINANCE_WS_MARKET_URL", "BINANCE_REST_URL", "COINGLASS_REST_URL"}

    async def probe() -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.get(env["BINANCE_REST_URL"] + "/fapi/v1/openInterest?symbol=BTCUSDT") as r,
        ):
            return r.status

    assert asyncio.run(probe()) == 200
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 0
    assert "frames sent" in rest and "'gap': 2" in rest


def test_bad_fault_spec_exits_2() -> None:
    out = _run("--fault", "explode", "--duration", "1")
    assert out.returncode == 2
    assert "unknown fault kind" in out.stderr


def test_env_lines_are_settings_names_and_the_sim_key_is_usable(sim: SimServer) -> None:
    env = sim.urls.as_env()
    assert set(env) <= env_names()
    values: dict[str, object] = {name.lower(): url for name, url in env.items()}
    values["coinglass_api_key"] = SecretStr(SIM_COINGLASS_KEY)
    settings = Settings.model_validate(values)
    assert settings.binance_ws_market_url == env["BINANCE_WS_MARKET_URL"]
    assert settings.coinglass_key_usable
    assert SIM_COINGLASS_KEY.startswith("cqt-sim-") and len(SIM_COINGLASS_KEY) == len("cqt-sim-") + 24
