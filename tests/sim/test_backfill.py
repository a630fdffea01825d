"""Nothing lost: a gap fault withholds trades from the stream, and the REST backfill returns exactly the
trades the stream sent plus the withheld ones (field for field), matching the simulator's ledger."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from cqt.sim import SimServer

from .conftest import recv_json, upbit_request


async def _collect(ws: aiohttp.ClientWebSocketResponse, n: int, key: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        frame = await recv_json(ws)
        if not key or key in frame:
            out.append(frame)
    return out


async def test_binance_gap_is_filled_exactly_by_rest_agg_trades(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.urls.binance_ws_market + "/ws/btcusdt@aggTrade") as ws:
            frames = await _collect(ws, 10)
            sim.faults.gap("binance", "BTCUSDT", count=7)
            frames += await _collect(ws, 40)
        ids = [f["a"] for f in frames]
        assert ids == sorted(ids)
        withheld = [i for i in sim.ledger.withheld_ids("binance", "BTCUSDT") if ids[0] <= i <= ids[-1]]
        assert len(withheld) == 7
        assert not set(withheld) & set(ids)
        assert sorted(set(ids) | set(withheld)) == list(range(ids[0], ids[-1] + 1))

        async with s.get(
            f"{sim.urls.binance_rest}/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={ids[0]}&limit=1000"
        ) as r:
            assert r.status == 200
            rows = [row for row in await r.json() if row["a"] <= ids[-1]]
    assert [row["a"] for row in rows] == list(range(ids[0], ids[-1] + 1))
    by_id = {row["a"]: row for row in rows}
    for frame in frames:
        row = by_id[frame["a"]]
        assert {k: frame[k] for k in ("p", "q", "f", "l", "T", "m")} == {
            k: row[k] for k in ("p", "q", "f", "l", "T", "m")
        }
    ledger_ids = sim.ledger.binance_trade_ids("BTCUSDT")
    assert set(range(ids[0], ids[-1] + 1)) <= set(ledger_ids)
    # trade ids inside aggregates stay contiguous across the gap too
    assert all(rows[i + 1]["f"] == rows[i]["l"] + 1 for i in range(len(rows) - 1))


async def test_upbit_gap_is_filled_exactly_by_rest_ticks(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.urls.upbit_ws) as ws:
            await ws.send_str(
                upbit_request({"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True})
            )
            frames = await _collect(ws, 5)
            sim.faults.gap("upbit", "KRW-BTC", count=4)
            frames += await _collect(ws, 20)
        seqs = [f["sequential_id"] for f in frames]
        withheld = [i for i in sim.ledger.withheld_ids("upbit", "KRW-BTC") if seqs[0] <= i <= seqs[-1]]
        assert len(withheld) == 4 and not set(withheld) & set(seqs)
        async with s.get(f"{sim.urls.upbit_rest}/v1/trades/ticks?market=KRW-BTC&count=500") as r:
            assert r.status == 200
            rows = json.loads(await r.text())
    window = [row for row in rows if seqs[0] <= row["sequential_id"] <= seqs[-1]]
    timestamps = [row["timestamp"] for row in rows]
    assert timestamps == sorted(timestamps, reverse=True)  # newest first
    assert sorted(row["sequential_id"] for row in window) == sorted(seqs + withheld)
    by_seq = {row["sequential_id"]: row for row in window}
    for frame in frames:
        row = by_seq[frame["sequential_id"]]
        assert row["timestamp"] == frame["trade_timestamp"]
        assert row["trade_price"] == frame["trade_price"]
        assert row["trade_volume"] == frame["trade_volume"]
        assert row["ask_bid"] == frame["ask_bid"]
        assert frame["sequential_id"] // 10_000 == frame["trade_timestamp"]


async def test_upbit_ticks_cursor_pages_backwards_without_overlap(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.urls.upbit_rest}/v1/trades/ticks?market=KRW-ETH&count=20") as r:
            first = await r.json()
        cursor = first[-1]["sequential_id"]
        async with s.get(
            f"{sim.urls.upbit_rest}/v1/trades/ticks?market=KRW-ETH&count=20&cursor={cursor}"
        ) as r:
            second = await r.json()
    assert len(first) == 20 and second
    assert max(row["sequential_id"] for row in second) < cursor
    ledger = sim.ledger.upbit_trade_ids("KRW-ETH")
    newest_first = sorted((i for i in ledger if i <= first[0]["sequential_id"]), reverse=True)
    assert [r["sequential_id"] for r in first + second] == newest_first[: len(first) + len(second)]
