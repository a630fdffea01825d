"""A healthy few minutes of pipeline evidence, inserted directly and stamped relative to the database's now().

`healthy` fills every table the checks read as a simulator run of the bot would (one bar, trade, quote and
mark price per second, polled metrics on their grids, Coinglass calls, heartbeat snapshots), and makes the
predictions with the real predictor, so the leak check's independent recomputation is compared with the
real feature code. Tests then break one thing and expect the matching FAIL.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cqt.checks.registry import CHECKS
from cqt.checks.result import CheckResult, Measurement
from cqt.checks.run import execute
from cqt.collect import binance_parse as bp
from cqt.collect import coinglass_parse as cp
from cqt.config import Settings, load_settings
from cqt.labels import DynamicThreshold
from cqt.predict.predictor import predict, write_predictions

SPAN_S = 200  # seconds of data before now
WINDOW_S = 60
SYMBOL, MARKET = "BTCUSDT", "KRW-BTC"
BAR_RECV_DELAY = timedelta(milliseconds=300)


def settings_for(db: str, **overrides: Any) -> Settings:
    return load_settings(
        None,
        db_url=db,
        binance_symbols="BTCUSDT",
        upbit_markets="KRW-BTC",
        coinglass_interval="1h",
        **overrides,
    )


def run_check(db: str, name: str, window_s: int = WINDOW_S, **overrides: Any) -> CheckResult:
    return execute(name, CHECKS[name], settings_for(db, **overrides), window_s)


def measurement(result: CheckResult, name: str) -> Measurement:
    found = [m for m in result.measurements if m.name == name]
    assert len(found) == 1, (name, [m.name for m in result.measurements])
    return found[0]


def failed(result: CheckResult) -> set[str]:
    return {m.name for m in result.measurements if not m.ok}


def db_now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


@dataclass
class Evidence:
    """What `healthy` inserted: the database and the whole second it is anchored on."""

    db: str
    now: datetime
    run_id: int

    def conn(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db, autocommit=True)

    def execute(self, query: str, params: Any = None) -> None:
        with self.conn() as c:
            c.execute(query, params)


def _insert(conn: psycopg.Connection[Any], table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    q = sql.SQL("INSERT INTO {t} ({c}) VALUES ({v})").format(
        t=sql.Identifier(table),
        c=sql.SQL(", ").join(map(sql.Identifier, cols)),
        v=sql.SQL(", ").join(map(sql.Placeholder, cols)),
    )
    with conn.cursor() as cur:
        cur.executemany(q, rows)


def fill_market(conn: psycopg.Connection[Any], now: datetime, run_id: int) -> None:
    rng = random.Random(7)
    end = now.replace(microsecond=0)
    start = end - timedelta(seconds=SPAN_S)
    prices = {"binance": 50_000.0, "upbit": 70_000_000.0}
    trades, quotes, bars, marks = [], [], [], []
    for i in range(1, SPAN_S + 1):
        ts = start + timedelta(seconds=i)
        for exchange, symbol in (("binance", SYMBOL), ("upbit", MARKET)):
            p = prices[exchange] = prices[exchange] * math.exp(rng.gauss(0, 2e-4))
            tick = p * 1e-5
            trades.append(
                dict(
                    exchange=exchange,
                    symbol=symbol,
                    trade_id=i,
                    ts=ts - timedelta(milliseconds=400),
                    recv_ts=ts - timedelta(milliseconds=350),
                    price=p,
                    qty=0.01,
                    side=1,
                )
            )
            quotes.append(
                dict(
                    exchange=exchange,
                    symbol=symbol,
                    seq=i,
                    ts=ts - timedelta(milliseconds=200),
                    recv_ts=ts - timedelta(milliseconds=150),
                    bid_price=p - tick,
                    bid_qty=1.0,
                    ask_price=p + tick,
                    ask_qty=1.0,
                )
            )
            bars.append(
                dict(
                    exchange=exchange,
                    symbol=symbol,
                    ts=ts,
                    recv_ts=ts + BAR_RECV_DELAY,
                    open=p,
                    high=p * 1.0001,
                    low=p * 0.9999,
                    close=p,
                    volume=0.01,
                    n_trades=1,
                    bid_close=p - tick,
                    ask_close=p + tick,
                    spread_bps=2 * tick / p * 1e4,
                    mid_close=p,
                    imbalance=0.1 * rng.uniform(-1, 1),
                )
            )
        marks.append(
            dict(
                symbol=SYMBOL,
                ts=ts,
                recv_ts=ts + timedelta(milliseconds=20),
                mark_price=prices["binance"],
                funding_rate=0.0001,
            )
        )
    _insert(conn, "trades", trades)
    _insert(conn, "quotes", quotes)
    _insert(conn, "market_1s", bars)
    _insert(conn, "mark_price", marks)
    fill_metrics(conn, start, end)
    status = []
    for k in range(0, SPAN_S + 1, 5):
        ts = start + timedelta(seconds=k)
        for exchange, stream, connection in (
            ("upbit", "trade", "upbit"),
            ("upbit", "orderbook", "upbit"),
            ("binance", "aggTrade", "binance/market"),
            ("binance", "bookTicker", "binance/public"),
            ("binance", "markPrice@1s", "binance/market"),
            ("binance", "forceOrder", "binance/market"),
        ):
            status.append(
                dict(
                    run_id=run_id,
                    ts=ts,
                    exchange=exchange,
                    stream=stream,
                    connection=connection,
                    messages=k,
                    malformed=0,
                    reconnects=0,
                    stalls=0,
                    last_event_ts=ts,
                    last_recv_ts=ts,
                )
            )
    _insert(conn, "stream_status", status)
    beats = range(0, SPAN_S + 1, 5)
    writer = [dict(run_id=run_id, ts=start + timedelta(seconds=k), rows_inserted=10 * k, spool_depth=0, db_up=True,
                   backlog_rows=0, spool_failing=False) for k in beats]  # fmt: skip
    _insert(conn, "writer_status", writer)


def fill_metrics(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> None:
    rows: list[tuple[str, str, str, datetime, datetime, int | None, float]] = []

    def grid(t: datetime, step: int) -> datetime:
        return datetime.fromtimestamp(math.floor(t.timestamp() / step) * step, UTC)

    for series in bp.PERIOD_SERIES.values():
        for _, metric in series:
            last = grid(end, 300)
            for k in range(4):
                ts = last - timedelta(seconds=300 * k)
                rows.append(
                    ("binance", SYMBOL, metric, ts, min(ts + timedelta(seconds=20), end), 300, 1.0 + k)
                )
    t = start
    while t <= end:
        for metric in ("open_interest", "premium_index", "last_funding_rate"):
            rows.append(
                ("binance", SYMBOL, metric, t, t + timedelta(milliseconds=30), None, 80_000 + t.second)
            )
        t += timedelta(seconds=10)
    funding = grid(end, 8 * 3600)
    rows.append(("binance", SYMBOL, "funding_rate", funding, funding + timedelta(seconds=1), None, 0.0001))
    for endpoint, symbol in (
        ("/api/futures/open-interest/aggregated-history", "BTC"),
        ("/api/futures/funding-rate/history", SYMBOL),
        ("/api/futures/liquidation/history", SYMBOL),
        ("/api/futures/global-long-short-account-ratio/history", SYMBOL),
    ):
        for _, metric in cp.SERIES[endpoint]:
            last = grid(end, 3600)
            for k in range(3):
                ts = last - timedelta(seconds=3600 * k)
                rows.append(
                    ("coinglass", symbol, metric, ts, min(ts + timedelta(seconds=30), end), 3600, 5.0)
                )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO metrics (source, symbol, metric, ts, recv_ts, period_s, value)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )
    calls = [
        dict(
            ts=start + timedelta(seconds=k, milliseconds=i),
            symbol="BTC" if i == 0 else SYMBOL,
            endpoint=e,
            ok=True,
            http_status=200,
            body_code="0",
        )
        for k in range(0, SPAN_S, 60)
        for i, e in enumerate(cp.SERIES)
    ]
    _insert(conn, "coinglass_call_status", calls)


def make_predictions(conn: psycopg.Connection[Any], now: datetime) -> int:
    end = now.replace(microsecond=0)
    t0 = datetime.fromtimestamp(math.floor(end.timestamp() / 5) * 5, UTC) - timedelta(seconds=5)
    written = 0
    thr = DynamicThreshold(min_returns=20)
    while t0 > end - timedelta(seconds=WINDOW_S + 30):
        written += write_predictions(conn, predict(conn, [SYMBOL], t0, horizon_s=30, threshold=thr))
        t0 -= timedelta(seconds=5)
    return written


@pytest.fixture
def healthy(db: str) -> Evidence:
    """A database holding SPAN_S healthy seconds of a simulator run, ending now."""
    with psycopg.connect(db, autocommit=True) as conn:
        now = db_now(conn)
        row = conn.execute(
            "INSERT INTO bot_runs (started_at, heartbeat_at, source, symbols, host, pid, version)"
            " VALUES (%s, %s, 'sim', %s, 'test', 1, 'test') RETURNING run_id",
            (now - timedelta(seconds=SPAN_S + 5), now, [SYMBOL]),
        ).fetchone()
        assert row is not None
        fill_market(conn, now, row[0])
        assert make_predictions(conn, now) >= 10
    return Evidence(db, now, row[0])
