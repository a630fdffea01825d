"""predict -> write -> settle on a real database, and the latency budget on a day of data."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from cqt.collect.rows import dt_to_ms
from cqt.labels import DynamicThreshold
from cqt.predict import pit_features, predict, settle, write_predictions
from cqt.predict.threshold import kernel_r_t
from tests.predict.rows import at, copy_rows, one
from tests.predict.synthetic import Shape, bar_series, insert_bars, insert_side_tables

SYMBOL = "BTCUSDT"


def test_predict_write_and_settle(conn: psycopg.Connection[Any], fresh_db: str) -> None:
    rng = np.random.default_rng(5)
    insert_bars(
        conn, bar_series(rng, "binance", SYMBOL, 100.0, Shape(n=900, p_missing=0.0, p_gap=0.0, p_late=0.0))
    )
    insert_bars(conn, bar_series(rng, "upbit", "KRW-BTC", 140_000.0, Shape(n=900, p_missing=0.0, p_gap=0.0)))
    insert_side_tables(conn, rng, SYMBOL, 900)
    t0 = at(700_000)
    before = datetime.now(UTC)

    with psycopg.connect(fresh_db, autocommit=True) as own:  # a connection of its own, as the bot has
        rows = predict(own, [SYMBOL, "ETHUSDT"], t0)  # no ETHUSDT data: no prediction, no error

    assert [p.symbol for p in rows] == [SYMBOL]
    (p,) = rows
    feats = pit_features(conn, SYMBOL, t0, upbit_market="KRW-BTC")
    assert p.r_t == kernel_r_t(feats.bars, dt_to_ms(t0), 120, DynamicThreshold())
    assert {k: p.features[k] for k in feats.values} == feats.values
    assert p.created_at >= before and p.ts == t0 and p.horizon_s == 120
    assert p.p_up + p.p_down + p.p_none == pytest.approx(1.0)

    assert write_predictions(conn, rows) == 1
    assert write_predictions(conn, rows) == 0  # ON CONFLICT (symbol, ts, model, horizon_s) DO NOTHING
    stored = one(conn, "SELECT r_t, p_up, action, created_at, features FROM predictions")
    assert stored[:4] == (p.r_t, p.p_up, p.action, p.created_at)
    assert stored[4]["upbit_premium_dev"] == p.features["upbit_premium_dev"]

    assert settle(conn, at(900_000)) == 1
    y, label_ts = one(conn, "SELECT y, label_ts FROM predictions")
    assert y in (-1, 0, 1) and label_ts == t0 + timedelta(seconds=120)


def test_predict_on_an_open_connection(conn: psycopg.Connection[Any]) -> None:
    rng = np.random.default_rng(6)
    insert_bars(conn, bar_series(rng, "binance", SYMBOL, 100.0, Shape(n=700)))
    assert len(predict(conn, [SYMBOL], at(650_000))) == 1
    assert predict(conn, [SYMBOL], at(30_000)) == []  # too few returns for r_t
    with pytest.raises(ValueError, match="unknown model"):
        predict(conn, [SYMBOL], at(650_000), model="other")


DAY_S = 86_400
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def fill_a_day(conn: psycopg.Connection[Any]) -> None:
    """A day of 1 s bars on both venues, mark prices, open interest and 5 s predictions per symbol."""
    rng = np.random.default_rng(1)
    ts = [at(s * 1000) for s in range(1, DAY_S + 1)]
    recv = [t + timedelta(seconds=2) for t in ts]
    for i, symbol in enumerate(SYMBOLS):
        close = 100.0 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 3e-4, DAY_S)))
        spread = rng.uniform(0.1, 2.0, DAY_S)
        for exchange, name, scale in (("binance", symbol, 1.0), ("upbit", "KRW-" + symbol[:3], 1400.0)):
            c = (close * scale).tolist()
            rows = [
                (exchange, name, ts[k], recv[k], c[k], c[k], c[k], spread[k], 0.1, False)
                for k in range(DAY_S)
            ]
            copy_rows(conn, "market_1s", ("exchange", "symbol", "ts", "recv_ts", "close", "high", "low",
                                          "spread_bps", "imbalance", "gap"), rows)  # fmt: skip
        marks = [("binance", symbol, ts[k], recv[k], 100.0, 1e-4) for k in range(DAY_S)]
        copy_rows(
            conn, "mark_price", ("exchange", "symbol", "ts", "recv_ts", "mark_price", "funding_rate"), marks
        )
        oi = [("binance", symbol, "open_interest", ts[k], recv[k], 1e5 + k) for k in range(9, DAY_S, 10)]
        copy_rows(conn, "metrics", ("source", "symbol", "metric", "ts", "recv_ts", "value"), oi)
        # Predictions every 5 s; those older than the last 200 s are settled already.
        preds = [
            (symbol, ts[k], recv[k], "baseline-v1", 120, 0.002, 0.3, 0.3, 0.4,
             at(k * 1000 + 130_000) if k < DAY_S - 200 else None)
            for k in range(4, DAY_S, 5)
        ]  # fmt: skip
        copy_rows(conn, "predictions", ("symbol", "ts", "created_at", "model", "horizon_s", "r_t", "p_up", "p_down",
                                        "p_none", "settled_at"), preds)  # fmt: skip
    conn.execute("ANALYZE")


def median_ms(fn: Any, runs: int) -> float:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@pytest.mark.slow
def test_predict_and_settle_take_under_100_ms_on_a_day_of_data(conn: psycopg.Connection[Any]) -> None:
    fill_a_day(conn)
    end = DAY_S * 1000

    predict_ms = median_ms(lambda i: predict(conn, SYMBOLS, at(end - 5000 * i)), 7)
    # Each call finds the next 5 s decision time of both symbols due (the horizon just ended).
    settled = []
    settle_ms = median_ms(lambda i: settled.append(settle(conn, at(end - 60_000 + 5000 * i))), 7)

    print(f"\npredict {len(SYMBOLS)} symbols: {predict_ms:.1f} ms; settle: {settle_ms:.1f} ms (median of 7)")
    assert settled[1:] == [2] * 6 and settled[0] >= 2
    assert predict_ms < 100
    assert settle_ms < 100
