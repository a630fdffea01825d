"""The simulator offers at least 50,000 messages per second on this machine.

Measured by `load_client.py` in its own process (a minimal frame counter, so the client is not the
bottleneck): Binance aggTrade and bookTicker streams plus an Upbit trade/orderbook subscription.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cqt.sim import SimConfig, SimServer

CLIENT = Path(__file__).with_name("load_client.py")


def test_offers_fifty_thousand_messages_per_second() -> None:
    with SimServer.in_thread(SimConfig(rate=150_000.0)) as sim:
        urls = [
            sim.urls.binance_ws_market + "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade",
            sim.urls.binance_ws_public + "/ws/btcusdt@bookTicker/ethusdt@bookTicker",
            sim.urls.upbit_ws,
        ]
        out = subprocess.run(
            [sys.executable, str(CLIENT), "4", *urls], capture_output=True, text=True, timeout=60, check=True
        )
        sent = sum(sim.ledger.frames_sent.values())
    result = json.loads(out.stdout)
    print(f"throughput: {result} (server counted {sent} frames)")
    assert result["per_second"] >= 50_000
    assert result["frames"] <= sent
