"""Binance REST client and poller against the simulator (and a real PostgreSQL where rows are stored):
weight budget kept before the venue complains, 429 and 418 obeyed, 5xx retried then reported, every
metric family stored at period end while one failing endpoint does not stop the others."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import psycopg
import pytest

from cqt.collect.binance_poll import BinancePoller
from cqt.collect.binance_rest import BinanceApiError, BinanceRest, BinanceUnavailable
from cqt.sim import SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.writer import Writer

BTC = "BTCUSDT"
OI = "/fapi/v1/openInterest"
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _cfg(**overrides: Any) -> SimConfig:
    return SimConfig(seed=11, binance_symbols=SYMBOLS, upbit_symbols=("KRW-BTC",), **overrides)


@dataclass
class Wire:
    """What actually crossed the wire: request starts and answers, on the monotonic clock."""

    sent: list[tuple[float, str]] = field(default_factory=list)
    answers: list[tuple[float, int, int | None]] = field(default_factory=list)  # (t, status, used weight)

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.answers]


@asynccontextmanager
async def recorded_session() -> AsyncIterator[tuple[aiohttp.ClientSession, Wire]]:
    wire = Wire()

    async def on_start(_s: object, _c: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
        wire.sent.append((time.monotonic(), params.url.path))

    async def on_end(_s: object, _c: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        used = params.response.headers.get("X-MBX-USED-WEIGHT-1M")
        wire.answers.append((time.monotonic(), params.response.status, None if used is None else int(used)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        yield http, wire


async def _window_with_room(seconds: float) -> None:
    """Sleep into the next minute if fewer than `seconds` are left in this one (Binance windows)."""
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        await asyncio.sleep(left + 0.3)


async def test_burst_stops_at_the_budget_before_the_venue_limit() -> None:
    await _window_with_room(6.0)
    with SimServer.in_thread(_cfg(binance_weight_limit=20)) as sim:
        async with recorded_session() as (http, wire):
            client = BinanceRest(http, sim.urls.binance_rest, weight_limit=20, headroom=0.8)
            calls = [asyncio.create_task(client.get_json(OI, {"symbol": BTC}, 1)) for _ in range(25)]
            done, pending = await asyncio.wait(calls, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    assert len(wire.sent) == 16  # 0.8 * 20: the client held back the rest itself
    assert wire.statuses() == [200] * 16
    assert max(used for _, _, used in wire.answers if used is not None) == 16
    assert len(done) == 16 and len(pending) == 9
    assert client.stats.throttled_waits >= 9
    assert (client.stats.http_429, client.stats.http_418, client.stats.weight_used) == (0, 0, 16)


async def test_held_back_calls_go_when_the_window_rolls() -> None:
    # The client's own clock decides when a minute window ends: shift it so its roll is 1.5 s away.
    with SimServer.in_thread(_cfg(binance_weight_limit=40)) as sim:
        async with recorded_session() as (http, wire):
            shift = 60.0 - time.time() % 60.0 - 1.5
            client = BinanceRest(
                http, sim.urls.binance_rest, weight_limit=40, headroom=0.5, clock=lambda: time.time() + shift
            )
            started = time.monotonic()
            await asyncio.gather(*(client.get_json(OI, {"symbol": BTC}, 1) for _ in range(30)))
    offsets = sorted(t - started for t, _ in wire.sent)
    assert all(t < 1.2 for t in offsets[:20])
    assert all(1.5 <= t < 3.0 for t in offsets[20:])
    assert wire.statuses() == [200] * 30
    assert client.stats.throttled_waits >= 10


async def test_429_waits_retry_after_then_succeeds() -> None:
    with SimServer.in_thread(_cfg()) as sim:
        sim.faults.http_error("binance", status=429, count=1, path=OI)
        async with recorded_session() as (http, wire):
            client = BinanceRest(http, sim.urls.binance_rest)
            body = await client.get_json(OI, {"symbol": BTC}, 1)
    assert body["symbol"] == BTC
    assert wire.statuses() == [429, 200]
    assert wire.sent[1][0] - wire.answers[0][0] >= 1.0  # the simulator's Retry-After: 1
    assert (client.stats.http_429, client.stats.calls) == (1, 2)


async def test_418_stops_every_caller_until_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="cqt.collect.binance_rest")
    with SimServer.in_thread(_cfg()) as sim:
        sim.faults.http_error("binance", status=418, count=1)
        async with recorded_session() as (http, wire):
            client = BinanceRest(http, sim.urls.binance_rest)
            first = asyncio.create_task(client.get_json(OI, {"symbol": BTC}, 1))
            while client.stats.http_418 == 0:
                await asyncio.sleep(0.01)
            others = [
                client.get_json("/fapi/v1/premiumIndex", {"symbol": BTC}, 1),
                client.get_json("/futures/data/basis", {"pair": BTC, "contractType": "PERPETUAL",
                                                        "period": "5m", "limit": 2}, 0),
                client.get_json(OI, {"symbol": "ETHUSDT"}, 1),
            ]  # fmt: skip
            results = await asyncio.gather(first, *others)
    banned_at = wire.answers[0][0]
    assert wire.answers[0][1] == 418
    assert len(wire.sent) == 5 and all(t - banned_at >= 1.0 for t, _ in wire.sent[1:])
    assert wire.statuses()[1:] == [200] * 4
    assert results[0]["symbol"] == BTC and len(results[2]) == 2
    assert client.stats.http_418 == 1
    assert any("BANNED" in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)


async def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    with SimServer.in_thread(_cfg()) as sim:
        async with recorded_session() as (http, wire):
            client = BinanceRest(http, sim.urls.binance_rest, max_attempts=3, backoff_s=0.05)
            sim.faults.http_error("binance", status=503, count=2, path=OI)
            assert (await client.get_json(OI, {"symbol": BTC}, 1))["symbol"] == BTC
            assert wire.statuses() == [503, 503, 200]
            sim.faults.http_error("binance", status=500, count=10, path=OI)
            with pytest.raises(BinanceUnavailable, match="HTTP 500 .3 attempts"):
                await client.get_json(OI, {"symbol": BTC}, 1)
    assert wire.statuses()[3:] == [500, 500, 500]
    assert client.stats.errors == 5


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    async with aiohttp.ClientSession() as http:
        client = BinanceRest(http, f"http://127.0.0.1:{port}", max_attempts=2, backoff_s=0.05)
        with pytest.raises(BinanceUnavailable, match="ClientConnectorError"):
            await client.get_json(OI, {"symbol": BTC}, 1)
    assert (client.stats.calls, client.stats.errors) == (2, 2)


async def test_other_client_errors_carry_the_venue_code() -> None:
    with SimServer.in_thread(_cfg()) as sim:
        async with aiohttp.ClientSession() as http:
            client = BinanceRest(http, sim.urls.binance_rest)
            with pytest.raises(BinanceApiError) as err:
                await client.get_json(OI, {"symbol": "NOPEUSDT"}, 1)
    assert (err.value.status, err.value.code, err.value.msg) == (400, -1121, "Invalid symbol.")
    assert client.stats.calls == 1  # not retried


async def _run_poller(db: str, tmp_path: Path, sim: SimServer, seconds: float) -> BinancePoller:
    writer = Writer(db, Spool(tmp_path / "spool", 10**8), max_latency_s=0.1)
    await writer.start()
    async with aiohttp.ClientSession() as http:
        client = BinanceRest(http, sim.urls.binance_rest, max_attempts=2, backoff_s=0.05)
        poller = BinancePoller(client, SYMBOLS, writer.put, fast_every_s=0.5, period_every_s=1.0)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(seconds)
        poller.stop()
        await task
    await writer.stop()
    return poller


PERIOD_CHECKS = [  # (endpoint, query key for the symbol, JSON field, stored metric)
    ("openInterestHist", "symbol", "sumOpenInterest", "oi_hist"),
    ("globalLongShortAccountRatio", "symbol", "longShortRatio", "global_long_short_ratio"),
    ("takerlongshortRatio", "symbol", "buyVol", "taker_buy_vol"),
    ("basis", "pair", "basis", "basis"),
]


async def test_poller_stores_every_metric_family_at_period_end(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(_cfg()) as sim:
        started = datetime.now(UTC)
        poller = await _run_poller(db, tmp_path, sim, 3.0)
        ended = datetime.now(UTC)
        served: dict[str, list[dict[str, object]]] = {}
        async with aiohttp.ClientSession() as http:
            for endpoint, symbol_key, _, _ in PERIOD_CHECKS:
                q = {symbol_key: BTC, "period": "5m", "limit": "30", "contractType": "PERPETUAL"}
                async with http.get(f"{sim.urls.binance_rest}/futures/data/{endpoint}", params=q) as r:
                    served[endpoint] = await r.json()
            async with http.get(f"{sim.urls.binance_rest}/fapi/v1/fundingRate", params={"symbol": BTC}) as r:
                fundings = await r.json()
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT symbol, metric, ts, recv_ts, period_s, value FROM metrics").fetchall()
    assert not poller.failures
    stored = {(sym, metric, ts): (period_s, value) for sym, metric, ts, _, period_s, value in rows}
    # no basis_annualized: the simulator serves "" for it, as live Binance sometimes does
    assert {metric for _, metric, _ in stored} == {
        "open_interest",
        "premium_index",
        "last_funding_rate",
        "funding_rate",
        "oi_hist",
        "oi_hist_value",
        "global_long_short_ratio",
        "global_long_account",
        "global_short_account",
        "taker_buy_sell_ratio",
        "taker_buy_vol",
        "taker_sell_vol",
        "basis",
        "basis_rate",
    }
    assert {sym for sym, _, _ in stored} == set(SYMBOLS)
    assert all(started <= recv_ts <= ended for *_, recv_ts, _, _ in rows)
    for endpoint, _, json_field, metric in PERIOD_CHECKS:
        matched = 0
        for item in served[endpoint]:
            start = datetime.fromtimestamp(int(str(item["timestamp"])) / 1000, UTC)
            key = (BTC, metric, start + timedelta(minutes=5))
            if key in stored:  # a period may have closed after the poll; that one is not stored
                assert stored[key] == (300, float(str(item[json_field]))), (endpoint, start)
                matched += 1
        assert matched >= 29, endpoint
    funding_ts = {ts for sym, metric, ts in stored if metric == "funding_rate" and sym == BTC}
    assert len(funding_ts) == 30
    assert funding_ts <= {datetime.fromtimestamp(f["fundingTime"] / 1000, UTC) for f in fundings}


async def test_a_failing_endpoint_is_counted_and_the_others_keep_storing(db: str, tmp_path: Path) -> None:
    with SimServer.in_thread(_cfg()) as sim:
        sim.faults.http_error("binance", status=503, count=10_000, path="/futures/data/basis")
        poller = await _run_poller(db, tmp_path, sim, 2.5)
    with psycopg.connect(db) as conn:
        metrics = {m for (m,) in conn.execute("SELECT DISTINCT metric FROM metrics")}
    assert poller.failures["basis"] >= 2 and poller.ok["basis"] == 0
    assert set(poller.failures) == {"basis"}
    assert all(poller.ok[e] >= 2 for e in ("openInterest", "premiumIndex", "openInterestHist", "fundingRate"))
    assert "basis" not in metrics and "basis_rate" not in metrics
    assert {"open_interest", "premium_index", "oi_hist", "taker_buy_vol", "funding_rate"} <= metrics
