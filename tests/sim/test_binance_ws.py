"""Binance USD-M WebSocket behaviour: routes, modes, live subscriptions, keep-alive and limits."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from cqt.sim import SimServer

from .conftest import fast_config, recv_json


async def _request(ws: aiohttp.ClientWebSocketResponse, req: str) -> dict[str, object]:
    await ws.send_str(req)
    while True:
        frame = await recv_json(ws)
        if "e" not in frame and "stream" not in frame:
            assert isinstance(frame, dict)
            return frame


async def test_raw_and_combined_modes(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        url = sim.urls.binance_ws_market + "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        async with s.ws_connect(url) as ws:
            streams: set[str] = set()
            while len(streams) < 2:
                frame = await recv_json(ws)
                assert set(frame) == {"stream", "data"}
                assert frame["data"]["s"] == frame["stream"].split("@")[0].upper()
                streams.add(frame["stream"])
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/ethusdt@aggTrade") as ws:
            frame = await recv_json(ws)
            assert frame["e"] == "aggTrade" and frame["s"] == "ETHUSDT"


async def test_live_subscription_methods(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.binance_ws_market + "/ws") as ws:
        sub = '{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s","ethusdt@aggTrade"],"id":7}'
        assert await _request(ws, sub) == {"result": None, "id": 7}
        listed = await _request(ws, '{"method":"LIST_SUBSCRIPTIONS","id":8}')
        assert listed == {"result": ["btcusdt@markPrice@1s", "ethusdt@aggTrade"], "id": 8}
        unsub = '{"method":"UNSUBSCRIBE","params":["ethusdt@aggTrade"],"id":9}'
        assert await _request(ws, unsub) == {"result": None, "id": 9}
        assert await _request(ws, '{"method":"GET_PROPERTY","params":["combined"],"id":10}') == {
            "result": False,
            "id": 10,
        }
        prop = '{"method":"SET_PROPERTY","params":["combined",true],"id":11}'
        assert await _request(ws, prop) == {"result": None, "id": 11}
        frame = await recv_json(ws, timeout=3)
        assert frame["stream"] == "btcusdt@markPrice@1s" and frame["data"]["e"] == "markPriceUpdate"
        errors = [
            await _request(ws, "{not json"),
            await _request(ws, '{"method":"SUBSCRIBE","params":"btcusdt@aggTrade","id":12}'),
            await _request(ws, '{"method":"SUBSCRIBE","params":[],"id":-1}'),
            await _request(ws, '{"method":"SET_PROPERTY","params":["colour",true],"id":13}'),
        ]
        assert [e["code"] for e in errors] == [3, 1, 2, 0]


async def test_streams_only_flow_on_their_route(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/btcusdt@bookTicker") as ws:
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.6)
        async with s.ws_connect(sim.urls.binance_ws_public + "/ws/btcusdt@aggTrade") as ws:
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.6)
        legacy = sim.urls.binance_ws_market.removesuffix("/market") + "/ws/btcusdt@aggTrade"
        async with s.ws_connect(legacy) as ws:  # the retired URL still handshakes but pushes nothing
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.6)
        async with s.ws_connect(sim.urls.binance_ws_public + "/ws/!bookTicker") as ws:
            symbols = {(await recv_json(ws))["s"] for _ in range(30)}
            assert symbols == {"BTCUSDT", "ETHUSDT"}


async def test_mark_price_streams(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/!markPrice@arr@1s") as ws:
            frames = [await recv_json(ws, timeout=3) for _ in range(2)]
        for frame in frames:
            assert isinstance(frame, list) and {m["s"] for m in frame} == {"BTCUSDT", "ETHUSDT"}
            assert {m["E"] % 1000 for m in frame} == {0}
        assert frames[1][0]["E"] - frames[0][0]["E"] == 1000
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/btcusdt@markPrice") as ws:
            frame = await recv_json(ws, timeout=5)
            assert frame["E"] % 3000 == 0  # the plain stream updates every 3 s


async def test_force_orders_at_most_one_per_symbol_per_second(sim: SimServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(sim.urls.binance_ws_market + "/ws/!forceOrder@arr") as ws,
    ):
        frames = [await recv_json(ws, timeout=10) for _ in range(3)]
    windows = [(f["o"]["s"], f["o"]["T"] // 1000) for f in frames]
    assert len(windows) == len(set(windows))
    ledger = sim.ledger.liquidations("BTCUSDT")
    assert len(ledger) >= sum(1 for f in frames if f["o"]["s"] == "BTCUSDT")


async def test_server_pings_and_lifetime_close() -> None:
    with SimServer.in_thread(fast_config(binance_ping_interval_s=0.3, binance_lifetime_s=1.5)) as sim:
        async with aiohttp.ClientSession() as s:
            url = sim.urls.binance_ws_market + "/ws/btcusdt@markPrice@1s"
            async with s.ws_connect(url, autoping=False) as ws:
                kinds = []
                while True:
                    msg = await ws.receive(timeout=5)
                    kinds.append(msg.type)
                    if msg.type == aiohttp.WSMsgType.PING:
                        await ws.pong(msg.data)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert kinds.count(aiohttp.WSMsgType.PING) >= 2
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1000


async def test_more_than_ten_messages_per_second_closes_with_1008(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.binance_ws_market + "/ws") as ws:
        for i in range(12):
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008


async def test_ten_messages_per_second_are_fine(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.binance_ws_market + "/ws") as ws:
        for i in range(10):
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        replies = [await recv_json(ws) for _ in range(10)]
        assert [r["id"] for r in replies] == list(range(10))
        await asyncio.sleep(1.1)
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":99}')
        assert (await recv_json(ws))["id"] == 99


async def test_async_context_manager_serves_in_the_running_loop() -> None:
    async with SimServer(fast_config()) as sim, aiohttp.ClientSession() as s:
        assert sim.urls.binance_ws_market.startswith("ws://127.0.0.1:")
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws:
            assert (await recv_json(ws))["e"] == "aggTrade"
    with pytest.raises(RuntimeError):
        _ = sim.urls  # stopped: no URLs any more
