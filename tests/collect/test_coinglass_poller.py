"""Coinglass poller against the simulator and a real PostgreSQL: every call leaves a status row; ok only
with HTTP 200 and body code "0"; series stamped at bucket end; no call at all without a real key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
import pytest

from cqt.collect.coinglass_poll import CoinglassPoller, CoinglassTarget
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from cqt.store.spool import Spool
from cqt.store.writer import Writer

TARGET = CoinglassTarget(coin="BTC", pair="BTCUSDT", exchange="Binance", interval="1h", limit=5)


async def _poll(db: str, tmp_path: Path, key: str, enabled: bool = True) -> CoinglassPoller:
    cfg = SimConfig(seed=3, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    with SimServer.in_thread(cfg) as sim:
        writer = Writer(db, Spool(tmp_path / "spool", 10**7))
        poller = CoinglassPoller(sim.urls.coinglass_rest, key, TARGET, writer.put, enabled=enabled)
        async with aiohttp.ClientSession() as http:
            await poller.poll_once(http)
        await writer.stop()
    return poller


async def test_good_key_yields_ok_calls_and_series_at_bucket_end(db: str, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    poller = await _poll(db, tmp_path, SIM_COINGLASS_KEY)
    assert (poller.calls_ok, poller.calls_failed) == (4, 0)
    with psycopg.connect(db) as conn:
        status = conn.execute(
            "SELECT endpoint, ok, http_status, body_code FROM coinglass_call_status"
        ).fetchall()
        rows = conn.execute("SELECT metric, ts, recv_ts, period_s FROM coinglass_series").fetchall()
    assert len(status) == 4 and all(ok and http == 200 and code == "0" for _, ok, http, code in status)
    metrics = {r[0] for r in rows}
    assert {"oi_agg_close", "funding_close", "liq_long_usd", "ls_ratio"} <= metrics
    for _, ts, recv_ts, period_s in rows:
        assert period_s == 3600
        assert ts.minute == 0 and ts.second == 0  # bucket boundaries (start + 1 h)
        assert ts <= recv_ts  # only completed buckets: their end is not after their arrival
        assert recv_ts >= before - timedelta(seconds=1)


async def test_bad_key_yields_not_ok_rows_with_the_body_code(db: str, tmp_path: Path) -> None:
    poller = await _poll(db, tmp_path, "cg-0123456789abcdef0123456789abcdef")
    assert (poller.calls_ok, poller.calls_failed) == (0, 4)
    with psycopg.connect(db) as conn:
        status = conn.execute(
            "SELECT ok, http_status, body_code, error FROM coinglass_call_status"
        ).fetchall()
        series = conn.execute("SELECT count(*) FROM coinglass_series").fetchone()
    assert len(status) == 4
    assert all(
        not ok and http == 200 and code == "401" and "Invalid API key" in err
        for ok, http, code, err in status
    )
    assert series == (0,)


@pytest.mark.parametrize(
    ("key", "enabled", "reason"),
    [
        ("your_coinglass_api_key_here", True, "placeholder"),
        ("", True, "missing"),
        (SIM_COINGLASS_KEY, False, "disabled"),
    ],
)
async def test_no_call_without_a_usable_key_but_a_loud_status(
    db: str, tmp_path: Path, key: str, enabled: bool, reason: str
) -> None:
    poller = await _poll(db, tmp_path, key, enabled=enabled)
    assert (poller.calls_ok, poller.calls_failed) == (0, 0)  # nothing was sent
    with psycopg.connect(db) as conn:
        status = conn.execute("SELECT ok, http_status, error FROM coinglass_call_status").fetchall()
    assert len(status) == 1
    ok, http, error = status[0]
    assert not ok and http is None and reason in error
    assert key == "" or key not in error  # the key itself is never recorded


async def test_hostile_answers_seconds_are_read_and_2052_is_refused(db: str, tmp_path: Path) -> None:
    cfg = SimConfig(seed=3, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    with SimServer.in_thread(cfg) as sim:
        writer = Writer(db, Spool(tmp_path / "spool", 10**7))
        poller = CoinglassPoller(sim.urls.coinglass_rest, SIM_COINGLASS_KEY, TARGET, writer.put)
        async with aiohttp.ClientSession() as http:
            await poller.poll_once(http)
            await writer.flush()
            with psycopg.connect(db) as conn:
                clean = conn.execute(
                    "SELECT metric, ts, value FROM coinglass_series ORDER BY 1, 2"
                ).fetchall()
            # the next 8 answers: `time` in seconds and in year 2052, in turn (cqt.sim.faults.hostile_series)
            sim.faults.malformed("coinglass", count=8)
            await poller.poll_once(http)
            await poller.poll_once(http)
        await writer.stop()
    assert (poller.calls_ok, poller.calls_failed) == (8, 4)
    with psycopg.connect(db) as conn:
        errors = [r[0] for r in conn.execute("SELECT error FROM coinglass_call_status WHERE NOT ok")]
        stored = conn.execute("SELECT metric, ts, value FROM coinglass_series ORDER BY 1, 2").fetchall()
    assert len(errors) == 4 and all("malformed data: time" in e for e in errors), errors
    # answers in seconds gave the same rows again; none from 2052 was stored
    assert clean and stored == clean
