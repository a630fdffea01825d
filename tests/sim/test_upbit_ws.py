"""Upbit WebSocket behaviour: request variants, formats, depth, binary frames, PING, idle close, errors."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from cqt.sim import SimServer

from .conftest import fast_config, recv_json, upbit_request


async def _frames(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, object]]:
    out = []
    for _ in range(n):
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg  # Upbit never sends text frames
        out.append(json.loads(msg.data))
    return out


async def test_nothing_is_sent_before_a_subscription(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.5)


async def test_format_object_first_and_simple_keys(sim: SimServer) -> None:
    request = json.dumps([{"ticket": "t"}, {"format": "SIMPLE"}, {"type": "ticker", "codes": ["KRW-ETH"]}])
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(request)
        frames = await _frames(ws, 2)
    assert frames[0]["ty"] == "ticker" and frames[0]["cd"] == "KRW-ETH"
    assert [f["st"] for f in frames] == ["SNAPSHOT", "REALTIME"]
    assert "type" not in frames[0]


@pytest.mark.parametrize("flag", ["is_only_snapshot", "isOnlySnapshot"])
async def test_only_snapshot_sends_one_frame_per_code(sim: SimServer, flag: str) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(upbit_request({"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"], flag: True}))
        frames = await _frames(ws, 2)
        assert {f["code"] for f in frames} == {"KRW-BTC", "KRW-ETH"}
        assert {f["stream_type"] for f in frames} == {"SNAPSHOT"}
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.5)


@pytest.mark.parametrize("flag", ["is_only_realtime", "isOnlyRealtime"])
async def test_only_realtime_skips_the_snapshot(sim: SimServer, flag: str) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(upbit_request({"type": "trade", "codes": ["KRW-BTC"], flag: True}))
        assert {f["stream_type"] for f in await _frames(ws, 5)} == {"REALTIME"}


@pytest.mark.parametrize(
    ("code", "depth"), [("KRW-BTC.1", 1), ("KRW-BTC.15", 15), ("KRW-BTC", 30), ("KRW-BTC.7", 30)]
)
async def test_orderbook_depth_suffix(sim: SimServer, code: str, depth: int) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(upbit_request({"type": "orderbook", "codes": [code]}))
        frame = (await _frames(ws, 1))[0]
    units = frame["orderbook_units"]
    assert isinstance(units, list) and len(units) == depth and frame["code"] == "KRW-BTC"
    asks = [u["ask_price"] for u in units]
    bids = [u["bid_price"] for u in units]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]


async def test_list_format_wraps_each_message(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(upbit_request({"type": "trade", "codes": ["KRW-BTC"]}, fmt="SIMPLE_LIST"))
        frame = await recv_json(ws)
    assert isinstance(frame, list) and frame[0]["ty"] == "trade"


async def test_text_ping_and_list_subscriptions(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str("PING")
        assert await recv_json(ws) == {"status": "UP"}
        await ws.send_str(upbit_request({"type": "trade", "codes": ["KRW-ETH"], "is_only_snapshot": True}))
        await recv_json(ws)
        await ws.send_str('[{"method":"LIST_SUBSCRIPTIONS"},{"ticket":"abc"}]')
        reply = await recv_json(ws)
    assert reply == {
        "method": "LIST_SUBSCRIPTIONS",
        "result": [{"type": "trade", "codes": ["KRW-ETH"]}],
        "ticket": "abc",
    }


@pytest.mark.parametrize(
    ("request_text", "name"),
    [
        ("hello", "WRONG_FORMAT"),
        ('{"ticket":"x"}', "WRONG_FORMAT"),
        ('[{"type":"trade","codes":["KRW-BTC"]}]', "NO_TICKET"),
        ('[{"ticket":"x"},{"format":"DEFAULT"}]', "NO_TYPE"),
        ('[{"ticket":"x"},{"type":"trade"}]', "NO_CODES"),
        ('[{"ticket":"x"},{"type":"trade","codes":["KRW-BTC"]},{"format":"XML"}]', "INVALID_PARAM"),
        ('[{"ticket":"x"},{"type":"candle.7s","codes":["KRW-BTC"]}]', "INVALID_PARAM"),
    ],
)
async def test_bad_requests_get_error_frames(sim: SimServer, request_text: str, name: str) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(request_text)
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY
        error = json.loads(msg.data)["error"]
        assert error["name"] == name and error["message"]
        await ws.send_str("PING")  # the connection survives an error frame
        assert await recv_json(ws) == {"status": "UP"}


async def test_idle_connection_is_closed_and_pings_keep_it_alive() -> None:
    with SimServer.in_thread(fast_config(upbit_idle_timeout_s=0.8)) as sim:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(sim.urls.upbit_ws) as idle:
                msg = await idle.receive(timeout=3)
                assert msg.type == aiohttp.WSMsgType.CLOSE
            async with s.ws_connect(sim.urls.upbit_ws, autoping=False) as busy:
                for _ in range(6):
                    await busy.ping()
                    msg = await busy.receive(timeout=1)
                    assert msg.type == aiohttp.WSMsgType.PONG
                    await asyncio.sleep(0.3)
                assert not busy.closed
