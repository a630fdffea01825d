"""Two bots with disjoint symbols started from one directory (same SPOOL_DIR, same LOG_DIR) share no file:
through a 20 s PostgreSQL outage each spools into its own directory and replays it, and the simulator's
ledger shows zero missing and zero duplicated trades per symbol for the period each bot ran."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from cqt.db import embedded
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.ledger_check import check_trades
from tests.settings_env import bot_environ

SHARDS = {"BTCUSDT": "KRW-BTC", "ETHUSDT": "KRW-ETH"}
METRICS = re.compile(r"metrics http://127\.0\.0\.1:\d+/metrics")
REPLAYED = re.compile(r"replayed spooled batch")


def logs_matching(log_dir: Path, pattern: re.Pattern[str]) -> list[Path]:
    return [p for p in sorted(log_dir.glob("bot*.log")) if pattern.search(p.read_text(errors="replace"))]


def wait_for_logs(log_dir: Path, pattern: re.Pattern[str], n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(logs_matching(log_dir, pattern)) < n:
        assert time.monotonic() < deadline, (
            f"{pattern.pattern!r} not in {n} logs of {log_dir} after {timeout_s}s"
        )
        time.sleep(0.3)


def test_two_bots_in_one_directory_lose_nothing_through_an_outage(
    own_server: tuple[Path, str], tmp_path: Path
) -> None:
    data_dir, conninfo = own_server
    log_dir = tmp_path / "logs"
    bots: dict[str, subprocess.Popen[str]] = {}
    with SimServer.in_thread(
        SimConfig(seed=11, binance_symbols=tuple(SHARDS), upbit_symbols=tuple(SHARDS.values()))
    ) as sim:
        try:
            for symbol, market in SHARDS.items():
                env = bot_environ(
                    tmp_path, conninfo, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env()
                )
                env.update(BINANCE_SYMBOLS=symbol, UPBIT_MARKETS=market)
                with open(
                    tmp_path / f"{symbol}.stderr", "w"
                ) as err:  # a file: a full pipe would block the bot
                    bots[symbol] = subprocess.Popen(
                        [sys.executable, "-m", "cqt.bot", "--source", "live"], cwd=tmp_path, env=env, text=True,
                        stdout=subprocess.PIPE, stderr=err,
                    )  # fmt: skip
            wait_for_logs(log_dir, METRICS, 2, 60)
            time.sleep(4)
            embedded.stop(data_dir)
            time.sleep(20)
            embedded.start(data_dir)
            wait_for_logs(log_dir, REPLAYED, 2, 45)
            time.sleep(3)
            for bot in bots.values():
                bot.send_signal(signal.SIGTERM)
            for bot in bots.values():
                bot.communicate(timeout=60)
        finally:
            for bot in bots.values():
                if bot.poll() is None:
                    bot.kill()
        sent = {
            symbol: {
                "binance": sim.ledger.binance_trade_ids(symbol),
                "upbit": sim.ledger.upbit_trade_ids(market),
            }
            for symbol, market in SHARDS.items()
        }
    stderr = {s: (tmp_path / f"{s}.stderr").read_text() for s in SHARDS}
    for symbol, bot in bots.items():
        assert bot.returncode == 0, stderr[symbol][-3000:]
    # one bot kept logs/bot.log, the other said at start where it logs instead
    assert (log_dir / "bot.log").exists() and len(list(log_dir.glob("bot-*.log"))) == 1
    assert (
        sum("is written by another bot in this directory; this bot logs to" in e for e in stderr.values())
        == 1
    )
    for symbol, market in SHARDS.items():
        for exchange, shard in (("binance", symbol), ("upbit", market)):
            check_trades(conninfo, "two bots, one directory, PostgreSQL down 20 s", exchange, shard,
                         sent[symbol][exchange], minimum=100)  # fmt: skip
    # both spools were replayed and emptied; their directories went with their bots
    spool = tmp_path / "spool"
    assert list(spool.rglob("*.batch")) == [] and [p for p in spool.iterdir() if p.name != "rejected"] == []
