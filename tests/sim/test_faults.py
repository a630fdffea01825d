"""Each fault, observed from a plain aiohttp client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest

from cqt.sim import SIM_COINGLASS_KEY, Fault, SimServer

from .conftest import fast_config, recv_json, upbit_request


@pytest.fixture
def fsim() -> Iterator[SimServer]:
    """A fresh simulator per test, so armed faults never leak between tests."""
    with SimServer.in_thread(fast_config(rate=600.0)) as server:
        yield server


async def _texts(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        out.append(msg.data)
    return out


def _ids(texts: list[str]) -> list[int]:
    return [json.loads(t)["a"] for t in texts]


async def test_drop_cuts_the_connection_without_close_frame(fsim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fsim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws,
    ):
        await recv_json(ws)
        fsim.faults.drop("binance")
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code in (None, 1006)


async def test_stall_keeps_the_socket_open_but_silent(fsim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(fsim.urls.upbit_ws) as ws:
        await ws.send_str(upbit_request({"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]}))
        await recv_json(ws)
        fsim.faults.stall("upbit", seconds=1.5)
        await asyncio.sleep(0.1)
        while True:  # drain what was in flight before the stall
            try:
                await ws.receive(timeout=0.3)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.7)
        assert not ws.closed
        frame = await recv_json(ws, timeout=3)  # data resumes after the stall
        assert frame["type"] == "trade"
    assert fsim.ledger.frames_suppressed["upbit"] > 0


async def test_duplicate_sends_frames_twice(fsim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fsim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws,
    ):
        await recv_json(ws)
        fsim.faults.duplicate("binance", count=3)
        ids = _ids(await _texts(ws, 30))
    repeats = [ids[i] for i in range(len(ids) - 1) if ids[i] == ids[i + 1]]
    assert len(repeats) == 3
    assert sorted(set(ids)) == list(range(min(ids), max(ids) + 1))


async def test_reorder_swaps_adjacent_frames(fsim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fsim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws,
    ):
        await recv_json(ws)
        fsim.faults.reorder("binance", count=2)
        ids = _ids(await _texts(ws, 30))
    descents = [i for i in range(len(ids) - 1) if ids[i + 1] < ids[i]]
    assert len(descents) == 2
    assert sorted(ids) == list(range(min(ids), max(ids) + 1))  # nothing lost, nothing repeated


async def test_malformed_frames_are_injected_and_nothing_is_lost(fsim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fsim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws,
    ):
        await recv_json(ws)
        fsim.faults.malformed("binance", count=2)
        texts = await _texts(ws, 30)
    ids = []
    for text in texts:
        with contextlib.suppress(ValueError, RecursionError):  # the hostile copies include bad JSON
            ids.append(json.loads(text)["a"])
    plain = sorted({i for i in ids if isinstance(i, int) and i < 2**63})  # copies repeat or spoil an id
    assert len(texts) == len(plain) + 2
    assert plain == list(range(plain[0], plain[0] + len(plain)))


async def test_http_error_then_recovery(fsim: SimServer) -> None:
    fsim.faults.http_error("binance", status=503, count=2, path="/fapi/v1/openInterest")
    url = fsim.urls.binance_rest + "/fapi/v1/openInterest?symbol=BTCUSDT"
    async with aiohttp.ClientSession() as s:
        statuses = []
        for _ in range(3):
            async with s.get(url) as r:
                statuses.append(r.status)
                body = await r.json()
        assert statuses == [503, 503, 200]
        assert body["symbol"] == "BTCUSDT"
        # a fault limited to one path leaves the others alone
        fsim.faults.http_error("binance", status=429, count=1, path="/fapi/v1/premiumIndex")
        async with s.get(url) as r:
            assert r.status == 200
        async with s.get(fsim.urls.binance_rest + "/fapi/v1/premiumIndex?symbol=BTCUSDT") as r:
            assert r.status == 429 and r.headers["Retry-After"]
            assert (await r.json())["code"] == -1003


async def test_slow_delays_responses(fsim: SimServer) -> None:
    fsim.faults.slow("coinglass", seconds=0.6, count=1)
    url = fsim.urls.coinglass_rest + "/api/user/account/subscription"
    async with aiohttp.ClientSession(headers={"CG-API-KEY": SIM_COINGLASS_KEY}) as s:
        t0 = time.monotonic()
        async with s.get(url) as r:
            assert (await r.json())["code"] == "0"
        slow = time.monotonic() - t0
        t0 = time.monotonic()
        async with s.get(url) as r:
            await r.read()
        fast = time.monotonic() - t0
    assert slow >= 0.6 > fast


async def test_scheduled_fault_from_cli_spec_fires_later(fsim: SimServer) -> None:
    fsim.faults.schedule(Fault.parse("duplicate:venue=binance,count=2,at=0.4"))
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(fsim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws,
    ):
        early = _ids(await _texts(ws, 3))
        await asyncio.sleep(0.6)
        # The copies went out at 0.4 s, so they are among the frames emitted before now, however busy
        # this run's market is.
        now = time.time() * 1000
        frames = [json.loads(t) for t in await _texts(ws, 1)]
        while frames[-1]["E"] < now:
            frames += [json.loads(t) for t in await _texts(ws, 1)]
        ids = [f["a"] for f in frames]
    assert len(set(early)) == len(early)
    assert len(ids) - len(set(ids)) == 2


def test_fault_spec_parsing_rejects_nonsense() -> None:
    assert Fault.parse("stall:venue=upbit,seconds=2.5") == Fault("stall", venue="upbit", seconds=2.5)
    for bad in (
        "explode",
        "gap:venue=binance",
        "gap:venue=nasdaq,symbol=X",
        "slow:seconds",
        "drop:colour=red",
    ):
        with pytest.raises(ValueError):
            Fault.parse(bad)
