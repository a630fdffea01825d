"""Shared fixtures: a simulator in a background thread with short timers, and small client helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "data" / "protocols"
HOBBYIST_KEY = "cqt-sim-hobbyist-0123456789abcdef"


def fast_config(**overrides: Any) -> SimConfig:
    base: dict[str, Any] = {
        "seed": 11,
        "liquidation_rate": 150.0,
        "rate": 400.0,
        "upbit_symbols": ("KRW-BTC", "KRW-ETH", "KRW-LAMB"),
        "binance_ping_interval_s": 5.0,
        "upbit_idle_timeout_s": 30.0,
        "coinglass_keys": {SIM_COINGLASS_KEY: "STANDARD", HOBBYIST_KEY: "HOBBYIST"},
    }
    base.update(overrides)
    return SimConfig(**base)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer.in_thread(fast_config()) as server:
        yield server


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> Any:
    """Next data message as JSON, whatever the frame opcode."""
    while True:
        msg = await ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return json.loads(msg.data.decode())
        raise AssertionError(f"unexpected frame {msg.type}: {msg.data!r}")


def upbit_request(*subs: dict[str, Any], fmt: str = "DEFAULT") -> str:
    return json.dumps([{"ticket": "test"}, *subs, {"format": fmt}])
