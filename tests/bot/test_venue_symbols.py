"""Symbols the venues do not list stop the bot at start (issue 18): exit 2 naming the symbol and the setting,
before the run row; an empty `--symbols` is an error, not the default; a venue that cannot be asked is a
warning and the run goes on."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psycopg

from cqt.collect.venue_symbols import Listing, binance_status, problems, upbit_status
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.collect.samples import sample
from tests.settings_env import bot_environ

UNKNOWN = "unknown Binance symbol FOOBARUSDT: not in exchangeInfo; check BINANCE_SYMBOLS / --symbols"


def run_bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cqt.bot", "--source", "live", *args],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120,
    )  # fmt: skip


def run_rows(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM bot_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_the_samples_parse_into_listings() -> None:
    info = sample("binance_exchangeInfo_2021.json")
    assert binance_status(info) == {"BTCUSDT": "TRADING", "ETHUSDT": "TRADING"}
    assert set(upbit_status(sample("upbit_rest_market_all.json"))) == {
        "KRW-BTC",
        "BTC-ETH",
        "USDT-SOL",
        "KRW-ETH",
    }
    assert set(upbit_status(sample("upbit_rest_market_all_details.json"))) == {"KRW-BTC"}
    info["symbols"][1]["status"] = "SETTLING"
    binance = Listing("Binance", binance_status(info))
    upbit = Listing("Upbit", upbit_status(sample("upbit_rest_market_all.json")))
    assert problems(binance, ["BTCUSDT", "ETHUSDT", "FOOBARUSDT"], upbit, ["KRW-BTC", "KRW-SOL"]) == [
        "Binance symbol ETHUSDT is SETTLING, not TRADING, in exchangeInfo; check BINANCE_SYMBOLS / --symbols",
        UNKNOWN,
        "unknown Upbit market KRW-SOL: not in /v1/market/all; check UPBIT_MARKETS / --symbols",
    ]
    # A venue that could not be asked proves nothing about its symbols.
    assert (
        problems(Listing("Binance", {}, "down"), ["FOOBARUSDT"], Listing("Upbit", {}, "down"), ["KRW-X"])
        == []
    )


def test_an_unlisted_symbol_exits_2_before_the_run_row(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(SimConfig(rate=50.0)) as sim:
        env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
        result = run_bot(tmp_path, env, "--duration", "5", "--symbols", "FOOBARUSDT")
        env["BINANCE_SYMBOLS"] = "BTCUSDT,SOLUSDT"  # SOLUSDT is not simulated, so not listed
        from_setting = run_bot(tmp_path, env, "--duration", "5")
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"bot not started: {UNKNOWN}"), last
    assert "unknown Upbit market KRW-FOOBAR: not in /v1/market/all" in last
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert from_setting.returncode == 2, from_setting.stderr[-3000:]
    assert from_setting.stderr.strip().splitlines()[-1] == (
        "bot not started: unknown Binance symbol SOLUSDT: not in exchangeInfo; check BINANCE_SYMBOLS / --symbols"
    )
    assert run_rows(db) == 0


def test_symbols_naming_no_symbol_is_an_error(db: str, tmp_path: Path) -> None:
    for option in (",", " , ", ""):
        result = run_bot(tmp_path, bot_environ(tmp_path, db), "--duration", "5", "--symbols", option)
        assert result.returncode == 2, result.stderr[-3000:]
        assert result.stderr.strip().splitlines()[-1] == (
            f"--symbols: no symbol in {option!r}; give Binance symbols like BTCUSDT,ETHUSDT"
        )
    assert run_rows(db) == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_venue_that_cannot_be_asked_is_a_warning_and_the_run_goes_on(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(SimConfig(rate=50.0)) as sim:
        dead = f"http://127.0.0.1:{_closed_port()}"
        urls = {**sim.urls.as_env(), "BINANCE_REST_URL": dead, "UPBIT_REST_URL": dead}
        env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **urls)
        result = run_bot(tmp_path, env, "--duration", "5", "--symbols", "FOOBARUSDT")
    assert result.returncode == 0, result.stderr[-3000:]
    for venue, path in (("Binance", "/fapi/v1/exchangeInfo"), ("Upbit", "/v1/market/all")):
        assert f"WARNING cqt.bot: {venue} symbols not checked: {dead}{path} not reachable (" in result.stderr
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT stop_cause, symbols FROM bot_runs").fetchone()
    assert row == ("duration", ["FOOBARUSDT"])
