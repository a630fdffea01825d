"""Every payload sample in tests/data/protocols has a simulator counterpart with the same field set
and JSON types (compared recursively), and the raw-wire samples also match number by number in literal
form (`100473000.00000000` vs `100473000`).

Exact match is required against the current live samples. Samples from 2021 or from documentation may
lack fields the 2026 protocol carries (`nq`, `ps`, `st`, Upbit `best_*` / `lv`, Coinglass `msg`); each such
allowance is listed per sample. Not served, and therefore skipped: the 2021 depth snapshot and depthUpdate
samples (the simulator does not offer order-book depth streams or `/fapi/v1/depth`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from cqt.sim import SIM_COINGLASS_KEY, SimServer

from .conftest import HOBBYIST_KEY, SAMPLES, fast_config, recv_json, upbit_request
from .shapes import shape_diff, token_diff

NOT_SERVED = {
    "binance_depthUpdate_combined_2021.json": "order-book depth streams are not simulated",
    "binance_rest_depth_snapshot_2021.json": "GET /fapi/v1/depth is not simulated",
}
CG = {"CG-API-KEY": SIM_COINGLASS_KEY}


@pytest.fixture(scope="module")
def limited_sim() -> Iterator[SimServer]:
    """A second simulator with tiny REST limits, so limit tests do not disturb the others."""
    with SimServer.in_thread(
        fast_config(binance_weight_limit=40, binance_ban_s=1.0, upbit_rest_per_s=3)
    ) as server:
        yield server


@dataclass(frozen=True)
class Got:
    text: str  # the simulator's payload, exactly as sent
    status: int = 200
    retry_after: str | None = None


Getter = Callable[[SimServer, SimServer, aiohttp.ClientSession], Awaitable[Got]]


async def _ws_first(url: str, session: aiohttp.ClientSession, send: str | None = None, want: str = "") -> Got:
    async with session.ws_connect(url) as ws:
        if send is not None:
            await ws.send_str(send)
        for _ in range(2000):
            msg = await ws.receive(timeout=10)
            text = msg.data.decode() if isinstance(msg.data, bytes) else str(msg.data)
            if want in text:
                return Got(text)
    raise AssertionError(f"no frame containing {want!r} from {url}")


async def _get(url: str, session: aiohttp.ClientSession, headers: dict[str, str] | None = None) -> Got:
    async with session.get(url, headers=headers) as resp:
        return Got(await resp.text(), resp.status, resp.headers.get("Retry-After"))


def ws_market(path: str, want: str = "") -> Getter:
    return lambda sim, _lim, s: _ws_first(sim.urls.binance_ws_market + path, s, want=want)


def ws_public(path: str) -> Getter:
    return lambda sim, _lim, s: _ws_first(sim.urls.binance_ws_public + path, s)


def upbit_ws(kind: str, code: str, fmt: str = "DEFAULT", want: str = "") -> Getter:
    request = upbit_request({"type": kind, "codes": [code]}, fmt=fmt)
    return lambda sim, _lim, s: _ws_first(sim.urls.upbit_ws, s, send=request, want=want)


def rest(base: str, path: str, headers: dict[str, str] | None = None, limited: bool = False) -> Getter:
    async def get(sim: SimServer, lim: SimServer, s: aiohttp.ClientSession) -> Got:
        server = lim if limited else sim
        return await _get(getattr(server.urls, base) + path, s, headers)

    return get


def after_flood(base: str, path: str, status: int) -> Getter:
    """Call a rate-limited endpoint until it answers `status`."""

    async def get(sim: SimServer, lim: SimServer, s: aiohttp.ClientSession) -> Got:
        for _ in range(100):
            got = await _get(getattr(lim.urls, base) + path, s)
            if got.status == status:
                return got
            if got.status == 418 and got.retry_after:  # banned by an earlier test: wait the ban out
                await asyncio.sleep(float(got.retry_after))
        raise AssertionError(f"{path} never answered {status}")

    return get


async def _unknown_method(sim: SimServer, _lim: SimServer, s: aiohttp.ClientSession) -> Got:
    async with s.ws_connect(sim.urls.binance_ws_market + "/ws") as ws:
        await ws.send_str('{"method":"SUBSCRIPE","params":["btcusdt@aggTrade"],"id":1}')
        msg = await ws.receive(timeout=5)
        return Got(msg.data)


async def _private_ws(sim: SimServer, _lim: SimServer, s: aiohttp.ClientSession) -> Got:
    async with s.ws_connect(sim.urls.upbit_ws + "/private") as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY
        return Got(msg.data.decode())


async def _ping(sim: SimServer, _lim: SimServer, s: aiohttp.ClientSession) -> Got:
    async with s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str("PING")
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY
        return Got(msg.data.decode())


def _cryptofeed_request() -> str:
    return (SAMPLES / "upbit_ws_subscribe_request_simple_isOnlyRealtime.json").read_text()


# sample file -> (how to get the simulator's counterpart, extra fields allowed, compare literal number forms)
SHAPE_CASES: dict[str, tuple[Getter, frozenset[str], bool]] = {
    "upbit_ticker.json": (upbit_ws("ticker", "KRW-BTC"), frozenset(), False),
    "upbit_trade.json": (upbit_ws("trade", "KRW-BTC"), frozenset(), False),
    "upbit_trade_docs_raw.json": (upbit_ws("trade", "KRW-BTC"), frozenset(), True),
    "upbit_orderbook.json": (upbit_ws("orderbook", "KRW-BTC.5"), frozenset(), False),
    "upbit_trade_simple.json": (
        lambda sim, _l, s: _ws_first(sim.urls.upbit_ws, s, send=_cryptofeed_request(), want='"ty":"trade"'),
        frozenset({"bap", "bas", "bbp", "bbs"}),  # best bid/ask fields were added to trades in 2024
        False,
    ),
    "upbit_orderbook_simple.json": (
        lambda sim, _l, s: _ws_first(
            sim.urls.upbit_ws, s, send=_cryptofeed_request(), want='"ty":"orderbook"'
        ),
        frozenset({"lv"}),  # the orderbook level field is newer than this 2021 capture
        False,
    ),
    "upbit_ws_error.json": (_private_ws, frozenset(), False),
    "upbit_ws_status_up.json": (_ping, frozenset(), False),
    "upbit_rest_ticker.json": (rest("upbit_rest", "/v1/ticker?markets=KRW-BTC,KRW-ETH"), frozenset(), True),
    "upbit_rest_candles_days.json": (
        rest("upbit_rest", "/v1/candles/days?market=KRW-BTC&count=2"),
        frozenset(),
        True,
    ),
    "upbit_rest_candles_seconds.json": (
        rest("upbit_rest", "/v1/candles/seconds?market=KRW-BTC"),
        frozenset(),
        False,
    ),
    "upbit_rest_trades_ticks.json": (
        rest("upbit_rest", "/v1/trades/ticks?market=KRW-BTC&count=3"),
        frozenset(),
        True,
    ),
    "upbit_rest_market_all.json": (rest("upbit_rest", "/v1/market/all"), frozenset(), True),
    "upbit_rest_market_all_details.json": (
        rest("upbit_rest", "/v1/market/all?isDetails=true"),
        frozenset(),
        True,
    ),
    "upbit_rest_error_401_no_authorization_ip.json": (rest("upbit_rest", "/v1/accounts"), frozenset(), False),
    "upbit_rest_error_429_UNVERIFIED.json": (
        after_flood("upbit_rest", "/v1/ticker?markets=KRW-BTC", 429),
        frozenset(),
        False,
    ),
    "binance_aggTrade_combined_2021.json": (
        ws_market("/stream?streams=btcusdt@aggTrade"),
        frozenset({"data.nq", "data.st"}),
        False,
    ),
    "binance_aggTrade_raw_2026.json": (ws_market("/ws/btcusdt@aggTrade"), frozenset(), False),
    "binance_bookTicker_combined_2021.json": (
        ws_public("/stream?streams=btcusdt@bookTicker"),
        frozenset({"data.ps", "data.st"}),
        False,
    ),
    "binance_bookTicker_raw_live_2026.json": (ws_public("/ws/btcusdt@bookTicker"), frozenset(), False),
    "binance_markPrice_combined_2026.json": (
        ws_market("/stream?streams=btcusdt@markPrice@1s"),
        frozenset(),
        False,
    ),
    "binance_markPrice_docs.json": (ws_market("/ws/btcusdt@markPrice@1s"), frozenset({"st"}), False),
    "binance_forceOrder_arr_combined_2021.json": (
        ws_market("/stream?streams=!forceOrder@arr"),
        frozenset({"data.o.ps", "data.o.st"}),
        False,
    ),
    "binance_forceOrder_arr_combined_live_2026.json": (
        ws_market("/stream?streams=!forceOrder@arr"),
        frozenset(),
        False,
    ),
    "binance_forceOrder_raw_live_2026.json": (ws_market("/ws/!forceOrder@arr"), frozenset(), False),
    "binance_forceOrder_symbol_combined_live_2026.json": (
        ws_market("/stream?streams=btcusdt@forceOrder/ethusdt@forceOrder"),
        frozenset(),
        False,
    ),
    "binance_ws_error_unknown_method.json": (_unknown_method, frozenset(), False),
    "binance_aggTrades_rest.json": (
        rest("binance_rest", "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=5"),
        frozenset(),
        False,
    ),
    "binance_basis.json": (
        rest("binance_rest", "/futures/data/basis?pair=BTCUSDT&contractType=PERPETUAL&period=5m&limit=3"),
        frozenset(),
        False,
    ),
    "binance_fundingRate.json": (
        rest("binance_rest", "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=3"),
        frozenset(),
        False,
    ),
    "binance_globalLongShortAccountRatio.json": (
        rest("binance_rest", "/futures/data/globalLongShortAccountRatio?symbol=BTCUSDT&period=5m&limit=3"),
        frozenset(),
        False,
    ),
    "binance_openInterest.json": (
        rest("binance_rest", "/fapi/v1/openInterest?symbol=BTCUSDT"),
        frozenset(),
        False,
    ),
    "binance_openInterestHist.json": (
        rest("binance_rest", "/futures/data/openInterestHist?symbol=BTCUSDT&period=5m&limit=3"),
        frozenset(),
        False,
    ),
    "binance_premiumIndex_docs.json": (
        rest("binance_rest", "/fapi/v1/premiumIndex?symbol=BTCUSDT"),
        frozenset(),
        False,
    ),
    "binance_takerlongshortRatio.json": (
        rest("binance_rest", "/futures/data/takerlongshortRatio?symbol=BTCUSDT&period=5m&limit=3"),
        frozenset(),
        False,
    ),
    "binance_error_invalid_symbol.json": (
        rest("binance_rest", "/fapi/v1/aggTrades?symbol=NOPEUSDT"),
        frozenset(),
        False,
    ),
    "binance_error_429.json": (
        after_flood("binance_rest", "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1", 429),
        frozenset(),
        False,
    ),
    "binance_error_418.json": (
        after_flood("binance_rest", "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1", 418),
        frozenset(),
        False,
    ),
    "coinglass_oi_history_docs.json": (
        rest(
            "coinglass_rest",
            "/api/futures/open-interest/history?exchange=Binance&symbol=BTCUSDT&interval=1h&limit=2",
            CG,
        ),
        frozenset(),
        False,
    ),
    "coinglass_funding_rate_history_docs.json": (
        rest(
            "coinglass_rest",
            "/api/futures/funding-rate/history?exchange=Binance&symbol=BTCUSDT&interval=8h&limit=2",
            CG,
        ),
        frozenset(),
        False,
    ),
    "coinglass_liquidation_history_docs.json": (
        rest(
            "coinglass_rest",
            "/api/futures/liquidation/history?exchange=Binance&symbol=BTCUSDT&interval=1h&limit=2",
            CG,
        ),
        frozenset(),
        False,
    ),
    "coinglass_liquidation_history_v4_example_2023.json": (
        rest(
            "coinglass_rest",
            "/api/futures/liquidation/history?exchange=Binance&symbol=BTCUSDT&interval=1d&limit=2",
            CG,
        ),
        frozenset({"msg"}),  # this older example body omits msg
        False,
    ),
    "coinglass_liquidation_aggregated_history_v4_example_2023.json": (
        rest(
            "coinglass_rest",
            "/api/futures/liquidation/aggregated-history?exchange_list=Binance,OKX&symbol=BTC&interval=1d&limit=2",
            CG,
        ),
        frozenset({"msg"}),
        False,
    ),
    "coinglass_global_long_short_account_ratio_docs.json": (
        rest(
            "coinglass_rest",
            "/api/futures/global-long-short-account-ratio/history?exchange=Binance&symbol=BTCUSDT&interval=1h&limit=2",
            CG,
        ),
        frozenset(),
        False,
    ),
    "coinglass_account_subscription.json": (
        rest("coinglass_rest", "/api/user/account/subscription", CG),
        frozenset(),
        False,
    ),
    "coinglass_error_missing_key_v4.json": (
        rest("coinglass_rest", "/api/user/account/subscription"),
        frozenset(),
        False,
    ),
    "coinglass_error_missing_key_v4_2025.json": (
        rest("coinglass_rest", "/api/user/account/subscription", {"coinglassSecret": "x" * 32}),
        frozenset(),
        False,
    ),
    "coinglass_error_bad_key_v4.json": (
        rest("coinglass_rest", "/api/user/account/subscription", {"CG-API-KEY": "0" * 32}),
        frozenset(),
        False,
    ),
    "coinglass_error_upgrade_plan_v4.json": (
        rest(
            "coinglass_rest",
            "/api/futures/open-interest/history?exchange=Binance&symbol=BTCUSDT&interval=1h",
            {"CG-API-KEY": HOBBYIST_KEY},
        ),
        frozenset(),
        False,
    ),
    "coinglass_error_missing_key_v2_v3.json": (
        rest("coinglass_rest", "/public/v2/open_interest?symbol=BTC"),
        frozenset(),
        False,
    ),
    "coinglass_error_upgrade_plan_v2_coinglassSecret.json": (
        rest("coinglass_rest", "/public/v2/open_interest?symbol=BTC", {"coinglassSecret": "x" * 32}),
        frozenset(),
        False,
    ),
}

# Request samples: the simulator must accept them verbatim (checked by dedicated tests below).
REQUEST_SAMPLES = {
    "upbit_ws_subscribe_request_default.json",
    "upbit_ws_subscribe_request_orderbook_level.json",
    "upbit_ws_subscribe_request_simple_isOnlyRealtime.json",
    "upbit_rest_response_headers_candles.json",
    "binance_ws_subscribe_request.json",
    "binance_ws_subscribe_response.json",
}


# Samples whose arrays mix object kinds (exchangeInfo filters), compared kind by kind in their own test.
DEDICATED = {"binance_exchangeInfo_2021.json": "tests/sim/test_listings.py"}


def test_every_sample_has_a_counterpart() -> None:
    files = {p.name for p in SAMPLES.glob("*.json")}
    assert files, f"no samples found under {SAMPLES}"
    covered = set(SHAPE_CASES) | REQUEST_SAMPLES | set(NOT_SERVED) | set(DEDICATED)
    assert files - covered == set()
    assert covered - files == set()


@pytest.mark.parametrize("name", [*SHAPE_CASES, *NOT_SERVED])
async def test_sample_shape(name: str, sim: SimServer, limited_sim: SimServer) -> None:
    if name in NOT_SERVED:
        pytest.skip(f"{name}: not served by the simulator ({NOT_SERVED[name]})")
    getter, allowed, literal = SHAPE_CASES[name]
    sample_text = (SAMPLES / name).read_text()
    async with aiohttp.ClientSession() as session:
        got = await asyncio.wait_for(getter(sim, limited_sim, session), 30)
    actual = json.loads(got.text)
    assert shape_diff(json.loads(sample_text), actual, allowed) == [], got.text[:500]
    if literal:
        assert token_diff(sample_text, got.text) == [], got.text[:500]


async def test_http_statuses_of_error_samples(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s:
        assert (await _get(sim.urls.upbit_rest + "/v1/accounts", s)).status == 401
        assert (await _get(sim.urls.binance_rest + "/fapi/v1/aggTrades?symbol=NOPEUSDT", s)).status == 400
        # Coinglass answers key and plan errors with HTTP 200 and the code in the body.
        missing = await _get(sim.urls.coinglass_rest + "/api/user/account/subscription", s)
        assert (missing.status, json.loads(missing.text)) == (200, {"code": "401", "msg": "API key missing."})


async def test_upbit_rest_headers_match_sample(sim: SimServer) -> None:
    sample = json.loads((SAMPLES / "upbit_rest_response_headers_candles.json").read_text())
    async with (
        aiohttp.ClientSession() as s,
        s.get(sim.urls.upbit_rest + "/v1/candles/days?market=KRW-BTC") as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"] == sample["content-type"]
        assert r.headers["limit-by-ip"] == sample["limit-by-ip"]
        assert re.fullmatch(r"group=candles; min=600; sec=\d+", r.headers["Remaining-Req"])
        assert re.fullmatch(r"group=candles; min=600; sec=\d+", sample["remaining-req"])


async def test_binance_subscribe_request_sample_gets_sample_response(sim: SimServer) -> None:
    request = (SAMPLES / "binance_ws_subscribe_request.json").read_text()
    response = json.loads((SAMPLES / "binance_ws_subscribe_response.json").read_text())
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.binance_ws_market + "/ws") as ws:
        await ws.send_str(request)
        assert await recv_json(ws) == response
        first = await recv_json(ws)
        assert first["e"] == "aggTrade" and first["s"] == "BTCUSDT"


async def test_upbit_default_request_sample_streams_snapshot_then_realtime(sim: SimServer) -> None:
    request = (SAMPLES / "upbit_ws_subscribe_request_default.json").read_text()
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(request)
        seen: dict[str, list[str]] = {"KRW-BTC": [], "KRW-ETH": []}
        while min(len(v) for v in seen.values()) < 3:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.BINARY
            frame = json.loads(msg.data)
            assert frame["type"] == "trade"
            seen[frame["code"]].append(frame["stream_type"])
        for kinds in seen.values():
            assert kinds[0] == "SNAPSHOT" and set(kinds[1:]) == {"REALTIME"}


async def test_upbit_orderbook_level_request_sample_groups_prices(sim: SimServer) -> None:
    request = (SAMPLES / "upbit_ws_subscribe_request_orderbook_level.json").read_text()
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(request)
        depth: dict[str, int] = {}
        while len(depth) < 2:
            frame = await recv_json(ws)
            assert frame["level"] == 10000
            units = frame["orderbook_units"]
            assert all(u["ask_price"] % 10000 == 0 and u["bid_price"] % 10000 == 0 for u in units)
            depth[frame["code"]] = len(units)
        assert depth == {"KRW-BTC": 30, "KRW-ETH": 5}


async def test_cryptofeed_request_sample_streams_simple_realtime_only(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.urls.upbit_ws) as ws:
        await ws.send_str(_cryptofeed_request())
        kinds = set()
        for _ in range(20):
            frame = await recv_json(ws)
            assert frame["cd"] == "KRW-LAMB" and frame["st"] == "REALTIME"
            kinds.add(frame["ty"])
        assert kinds == {"trade", "orderbook"}


def _decimal_places(text: str, key: str) -> set[int]:
    return {len(m.split(".")[1]) if "." in m else 0 for m in re.findall(rf'"{key}":(-?[0-9.]+)', text)}


async def test_upbit_numbers_keep_wire_formatting(sim: SimServer) -> None:
    got = await upbit_ws("trade", "KRW-BTC")(sim, sim, aiohttp.ClientSession())
    assert _decimal_places(got.text, "trade_price") == {8}
    assert _decimal_places(got.text, "best_ask_price") == {0}


def test_samples_dir_holds_the_samples_and_their_sources() -> None:
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    names = {p.name for p in SAMPLES.glob("*.json")}
    assert names >= set(NOT_SERVED)
    assert [n for n in sorted(names) if n not in readme] == [], "every sample needs its source in README.md"
