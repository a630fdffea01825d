"""REST behaviour beyond field shapes: paging, windows, limits, plans, ordering."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from cqt.sim import SIM_COINGLASS_KEY, SimServer

from .conftest import HOBBYIST_KEY, fast_config


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, CIMultiDictProxy[str]]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, await r.json(content_type=None), r.headers


async def _wait_for_trades(sim: SimServer, symbol: str, n: int) -> None:
    for _ in range(200):
        if len(sim.ledger.binance_trades(symbol)) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} {symbol} trades after 10 s")


async def test_agg_trades_paging_by_from_id_is_contiguous(sim: SimServer) -> None:
    await _wait_for_trades(sim, "ETHUSDT", 60)
    base = sim.urls.binance_rest + "/fapi/v1/aggTrades?symbol=ETHUSDT"
    _, latest, headers = await _get(base + "&limit=3")
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20
    first = latest[0]["a"] - 50
    _, page1, _ = await _get(f"{base}&fromId={first}&limit=25")
    _, page2, _ = await _get(f"{base}&fromId={page1[-1]['a'] + 1}&limit=25")
    ids = [r["a"] for r in page1 + page2]
    assert ids == list(range(first, first + 50))
    times = [r["T"] for r in page1 + page2]
    assert times == sorted(times)


async def test_agg_trades_time_window(sim: SimServer) -> None:
    await _wait_for_trades(sim, "BTCUSDT", 40)
    base = sim.urls.binance_rest + "/fapi/v1/aggTrades?symbol=BTCUSDT"
    _, latest, _ = await _get(base + "&limit=40")
    lo, hi = latest[5]["T"], latest[30]["T"]
    _, rows, _ = await _get(f"{base}&startTime={lo}&endTime={hi}")
    assert rows and all(lo <= r["T"] <= hi for r in rows)
    assert {r["a"] for r in latest if lo <= r["T"] <= hi} <= {r["a"] for r in rows}
    status, body, _ = await _get(f"{base}&startTime={lo}&endTime={lo + 3_600_001}")
    assert (status, body["code"]) == (400, -1127)
    status, body, _ = await _get(f"{base}&limit=1001")
    assert (status, body["code"]) == (400, -1130)


async def test_premium_index_and_funding_history(sim: SimServer) -> None:
    status, rows, _ = await _get(sim.urls.binance_rest + "/fapi/v1/premiumIndex")
    assert status == 200 and {r["symbol"] for r in rows} == {"BTCUSDT", "ETHUSDT"}
    assert all(r["nextFundingTime"] % (8 * 3_600_000) == 0 for r in rows)
    _, funding, _ = await _get(sim.urls.binance_rest + "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=6")
    times = [r["fundingTime"] for r in funding]
    assert len(times) == 6 and times == sorted(times)
    assert all(b - a == 8 * 3_600_000 for a, b in zip(times, times[1:], strict=False))
    start = times[1] - 1
    _, from_start, _ = await _get(
        f"{sim.urls.binance_rest}/fapi/v1/fundingRate?symbol=BTCUSDT&startTime={start}&limit=2"
    )
    assert [r["fundingTime"] for r in from_start] == times[1:3]


async def test_futures_data_buckets_are_completed_and_ascending(sim: SimServer) -> None:
    for path in ("openInterestHist", "globalLongShortAccountRatio", "takerlongshortRatio"):
        status, rows, headers = await _get(
            f"{sim.urls.binance_rest}/futures/data/{path}?symbol=BTCUSDT&period=15m&limit=4"
        )
        assert status == 200 and "X-MBX-USED-WEIGHT-1M" in headers
        stamps = [r["timestamp"] for r in rows]
        assert len(stamps) == 4 and all(b - a == 900_000 for a, b in zip(stamps, stamps[1:], strict=False))
        assert all(t % 900_000 == 0 for t in stamps)
    ratio = rows[-1]
    assert abs(float(ratio["buySellRatio"]) - float(ratio["buyVol"]) / float(ratio["sellVol"])) < 1e-3
    status, body, _ = await _get(
        f"{sim.urls.binance_rest}/futures/data/openInterestHist?symbol=BTCUSDT&period=7m"
    )
    assert status == 400 and body["code"] == -1102


async def test_weight_limit_429_then_418_ban() -> None:
    with SimServer.in_thread(fast_config(binance_weight_limit=60, binance_429s_before_ban=2)) as sim:
        url = sim.urls.binance_rest + "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1"
        statuses = []
        for _ in range(6):
            status, body, headers = await _get(url)
            statuses.append(status)
            if status in (418, 429):
                assert int(headers["Retry-After"]) >= 1 and body["code"] == -1003
        assert statuses == [200, 200, 200, 429, 429, 418]
        assert "banned until" in body["msg"]


async def test_upbit_ticks_parameters(sim: SimServer) -> None:
    base = sim.urls.upbit_rest + "/v1/trades/ticks?market=KRW-BTC"
    assert (await _get(base + "&count=501"))[0] == 400
    assert (await _get(base + "&days_ago=8"))[0] == 400
    status, rows, _ = await _get(base + "&daysAgo=1&count=5")
    assert status == 200 and rows == []  # the run started today: nothing yesterday
    status, body, _ = await _get(sim.urls.upbit_rest + "/v1/trades/ticks?market=KRW-DOGE")
    assert status == 404 and body["error"]["name"]
    _, latest, _ = await _get(base + "&count=50")
    cut = latest[10]["trade_time_utc"]
    _, before, _ = await _get(base + "&count=50&to=" + cut.replace(":", ""))
    assert before and all(r["trade_time_utc"] < cut for r in before)


async def test_upbit_candles_seconds_only_for_seconds_with_trades(sim: SimServer) -> None:
    status, candles, _ = await _get(sim.urls.upbit_rest + "/v1/candles/seconds?market=KRW-BTC&count=5")
    assert status == 200 and 1 <= len(candles) <= 5
    stamps = [c["candle_date_time_utc"] for c in candles]
    assert stamps == sorted(stamps, reverse=True)
    for c in candles:
        assert c["low_price"] <= c["opening_price"] <= c["high_price"] and c["candle_acc_trade_volume"] > 0


async def test_coinglass_plans_and_rate_limit() -> None:
    cfg = fast_config(coinglass_rate_limit=3)
    with SimServer.in_thread(cfg) as sim:
        path = "/api/futures/open-interest/history?exchange=Binance&symbol=BTCUSDT&interval=4h&limit=3"
        status, body, headers = await _get(sim.urls.coinglass_rest + path, {"CG-API-KEY": HOBBYIST_KEY})
        assert status == 200 and body["code"] == "0"
        assert headers["API-KEY-MAX-LIMIT"] == "3" and headers["API-KEY-USE-LIMIT"] == "1"
        times = [row["time"] for row in body["data"]]
        assert all(b - a == 4 * 3_600_000 for a, b in zip(times, times[1:], strict=False))
        low = path.replace("interval=4h", "interval=1h")
        assert (await _get(sim.urls.coinglass_rest + low, {"CG-API-KEY": HOBBYIST_KEY}))[1]["code"] == "400"
        assert (await _get(sim.urls.coinglass_rest + low, {"CG-API-KEY": SIM_COINGLASS_KEY}))[1][
            "code"
        ] == "0"
        # the plan error counted too: this is the key's third call this minute, the fourth is refused
        assert (await _get(sim.urls.coinglass_rest + path, {"CG-API-KEY": HOBBYIST_KEY}))[1]["code"] == "0"
        status, body, headers = await _get(sim.urls.coinglass_rest + path, {"CG-API-KEY": HOBBYIST_KEY})
        assert (status, body["code"], headers["API-KEY-USE-LIMIT"]) == (200, "429", "3")


async def test_coinglass_series_are_consistent(sim: SimServer) -> None:
    headers = {"CG-API-KEY": SIM_COINGLASS_KEY}
    base = sim.urls.coinglass_rest + "/api/futures"
    _, single, _ = await _get(
        base + "/open-interest/history?exchange=Binance&symbol=BTCUSDT&interval=1h&limit=3", headers
    )
    _, agg, _ = await _get(base + "/open-interest/aggregated-history?symbol=BTC&interval=1h&limit=3", headers)
    for one, total in zip(single["data"], agg["data"], strict=True):
        assert one["time"] == total["time"]
        assert float(total["close"]) > float(one["close"])
        assert float(one["low"]) <= float(one["open"]) <= float(one["high"])
    _, ratio, _ = await _get(
        base + "/global-long-short-account-ratio/history?exchange=Binance&symbol=BTCUSDT&interval=1h&limit=2",
        headers,
    )
    for row in ratio["data"]:
        assert abs(row["global_account_long_percent"] + row["global_account_short_percent"] - 100) < 0.011


async def test_coinglass_key_errors_are_http_200_with_a_body_code(sim: SimServer) -> None:
    url = (
        sim.urls.coinglass_rest
        + "/api/futures/liquidation/history?exchange=Binance&symbol=BTCUSDT&interval=1h"
    )
    cases = [
        ({}, {"code": "401", "msg": "API key missing."}),
        ({"CG-API-KEY": "not-a-key"}, {"code": "401", "msg": "Invalid API key provided"}),
        ({"coinglassSecret": "legacy"}, {"code": "400", "msg": "API key missing."}),
    ]
    for headers, expected in cases:
        status, body, response_headers = await _get(url, headers)
        assert (status, body) == (200, expected)
        assert "API-KEY-USE-LIMIT" not in response_headers
