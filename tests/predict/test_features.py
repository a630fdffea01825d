"""Point-in-time features: the PIT rule per table, truncation invariance, and slow Python references."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cqt.collect.rows import dt_to_ms
from cqt.labels import DynamicThreshold
from cqt.predict.features import Features, pit_features, upbit_market_for
from cqt.predict.threshold import kernel_r_t
from tests.predict.rows import at, copy_rows, empty_tables
from tests.predict.synthetic import Bar, Shape, bar_series, insert_bars, insert_side_tables

SYMBOL = "BTCUSDT"
UPBIT = "KRW-BTC"
W_MS = DynamicThreshold().window_s * 1000


def ref_usable(bars: list[Bar], t0: int) -> list[Bar]:
    """Bars usable at t0 inside the look-back, with a price (or flagged gap), by the plain rule."""
    return [
        b for b in bars if b.ts <= t0 and b.recv <= t0 and b.ts > t0 - W_MS and (b.gap or b.close is not None)
    ]


def ref_sigma(bars: list[Bar], t0: int) -> float | None:
    """RMS of 1 s log returns between consecutive, usable, non-gap bars; None under 60 returns."""
    closes = {b.ts: b.close for b in ref_usable(bars, t0) if not b.gap and b.close is not None}
    rets = [math.log(c / closes[t - 1000]) for t, c in closes.items() if t - 1000 in closes]
    return math.sqrt(sum(r * r for r in rets) / len(rets)) if len(rets) >= 60 else None


def ref_close(bars: list[Bar], t0: int, t: int) -> float | None:
    """Latest usable non-gap close with ts in (t - 10 s, t]."""
    found = None
    for b in ref_usable(bars, t0):
        if t - 10_000 < b.ts <= t and not b.gap and b.close is not None:
            found = b.close
    return found


def ref_momentum_z(bars: list[Bar], t0: int, n: int) -> float | None:
    now, then, sigma = ref_close(bars, t0, t0), ref_close(bars, t0, t0 - n * 1000), ref_sigma(bars, t0)
    if now is None or then is None or not sigma:
        return None
    return math.log(now / then) / (sigma * math.sqrt(n))


def assert_close(got: float | None, want: float | None) -> None:
    assert (got is None) == (want is None), (got, want)
    if got is not None:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def features_and_r_t(conn: psycopg.Connection[Any], t0_ms: int) -> tuple[Features, float | None]:
    f = pit_features(conn, SYMBOL, at(t0_ms), upbit_market=UPBIT)
    return f, kernel_r_t(f.bars, dt_to_ms(at(t0_ms)), 120, DynamicThreshold())


def delete_after(conn: psycopg.Connection[Any], t0_ms: int) -> None:
    for table in ("market_1s", "mark_price", "metrics", "liquidations"):
        conn.execute(
            f"DELETE FROM {table} WHERE ts > %(t)s OR recv_ts > %(t)s",  # noqa: S608 (fixed table names)
            {"t": at(t0_ms)},
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    t0_s=st.integers(100, 820),
    p_missing=st.sampled_from([0.0, 0.01, 0.1]),
    p_gap=st.sampled_from([0.0, 0.01, 0.05]),
    p_late=st.sampled_from([0.0, 0.05, 0.3]),
    lead=st.integers(0, 40),
)
def test_truncation_invariance_and_reference(
    conn: psycopg.Connection[Any],
    seed: int,
    t0_s: int,
    p_missing: float,
    p_gap: float,
    p_late: float,
    lead: int,
) -> None:
    empty_tables(conn)
    rng = np.random.default_rng(seed)
    shape = Shape(n=840, p_missing=p_missing, p_gap=p_gap, p_late=p_late, lead_without_trades=lead)
    bars = bar_series(rng, "binance", SYMBOL, 100.0, shape)
    insert_bars(conn, bars)
    insert_bars(conn, bar_series(rng, "upbit", UPBIT, 140_000.0, shape))
    insert_side_tables(conn, rng, SYMBOL, 840)
    t0 = t0_s * 1000

    before, r_before = features_and_r_t(conn, t0)
    assert_close(before.values["sigma_1s"], ref_sigma(bars, t0))
    for n in (30, 120):
        assert_close(before.values[f"mom_z_{n}"], ref_momentum_z(bars, t0, n))
    assert (r_before is None) == (
        before.values["sigma_1s"] is None or before.values["cost_roundtrip"] is None
    )

    delete_after(conn, t0)
    after, r_after = features_and_r_t(conn, t0)
    assert after.values == before.values
    assert r_after == r_before
    assert np.array_equal(after.bars.ts, before.bars.ts)
    assert np.array_equal(after.bars.close, before.bars.close, equal_nan=True)


def test_generated_market_gives_every_feature(conn: psycopg.Connection[Any]) -> None:
    """The property test above is not vacuous: on a regular series every feature has a value."""
    rng = np.random.default_rng(7)
    shape = Shape(n=840, p_missing=0.0, p_gap=0.0, p_late=0.0)
    bars = bar_series(rng, "binance", SYMBOL, 100.0, shape)
    insert_bars(conn, bars)
    insert_bars(conn, bar_series(rng, "upbit", UPBIT, 140_000.0, shape))
    insert_side_tables(conn, rng, SYMBOL, 840)
    f, r_t = features_and_r_t(conn, 800_000)
    missing = [k for k, v in f.values.items() if v is None]
    assert missing == [] or missing == ["imbalance"] or missing == ["spread_bps"]
    assert r_t is not None and r_t > 0


def flat_bars(n_s: int, recv_lag_ms: int = 0) -> list[Bar]:
    """Bars 1..n_s s, close 100 * (1 + ts_s / 1e5) (distinct per second), received after ``recv_lag_ms``."""
    out = []
    for s in range(1, n_s + 1):
        c = 100.0 * (1 + s / 1e5)
        out.append(Bar("binance", SYMBOL, s * 1000, s * 1000 + recv_lag_ms, c, c, c, 1.0, s % 7 / 7, False))
    return out


def test_rows_received_after_t0_are_not_used(conn: psycopg.Connection[Any]) -> None:
    t0 = 700_000
    insert_bars(conn, flat_bars(700))
    copy_rows(
        conn,
        "mark_price",
        ("exchange", "symbol", "ts", "recv_ts", "mark_price", "funding_rate"),
        [("binance", SYMBOL, at(t0 - 2000), at(t0 - 2000), 100.0, 1e-4)],
    )
    copy_rows(
        conn,
        "metrics",
        ("source", "symbol", "metric", "ts", "recv_ts", "value"),
        [
            ("binance", SYMBOL, "open_interest", at(t0 - 320_000), at(t0 - 310_000), 1000.0),
            ("binance", SYMBOL, "open_interest", at(t0 - 60_000), at(t0 - 50_000), 1100.0),
        ],
    )
    copy_rows(
        conn,
        "liquidations",
        ("exchange", "symbol", "ts", "recv_ts", "side", "price", "avg_price", "qty", "status"),
        [("binance", SYMBOL, at(t0 - 30_000), at(t0 - 29_000), "SELL", 100.0, 101.0, 2.0, "FILLED")],
    )
    # Each of these facts happened by t0 but is only learned 1 ms after it.
    late = at(t0 + 1)
    conn.execute(
        "INSERT INTO mark_price (exchange, symbol, ts, recv_ts, mark_price, funding_rate)"
        " VALUES ('binance', %s, %s, %s, 100.0, 3e-4)",
        (SYMBOL, at(t0 - 1000), late),
    )
    conn.execute(
        "INSERT INTO metrics (source, symbol, metric, ts, recv_ts, value)"
        " VALUES ('binance', %s, 'open_interest', %s, %s, 1210.0)",
        (SYMBOL, at(t0 - 5000), late),
    )
    conn.execute(
        "INSERT INTO liquidations (exchange, symbol, ts, recv_ts, side, price, avg_price, qty, status)"
        " VALUES ('binance', %s, %s, %s, 'BUY', 100.0, 99.0, 3.0, 'FILLED')",
        (SYMBOL, at(t0 - 10_000), late),
    )
    conn.execute("UPDATE market_1s SET recv_ts = %s WHERE ts = %s", (late, at(t0)))

    f = pit_features(conn, SYMBOL, at(t0)).values
    assert f["close"] == 100.0 * (1 + 699 / 1e5)
    assert f["bar_age_s"] == 1.0
    assert f["funding_rate"] == 1e-4
    assert f["oi_change_5m"] == pytest.approx(1100.0 / 1000.0 - 1)
    assert f["liq_long_usd_60s"] == pytest.approx(202.0)
    assert f["liq_short_usd_60s"] == 0.0

    conn.execute("UPDATE market_1s SET recv_ts = ts")
    for table in ("mark_price", "metrics", "liquidations"):
        conn.execute(f"UPDATE {table} SET recv_ts = ts")  # noqa: S608 (fixed table names)
    g = pit_features(conn, SYMBOL, at(t0)).values
    assert g["close"] == 100.0 * (1 + 700 / 1e5)
    assert g["bar_age_s"] == 0.0
    assert g["funding_rate"] == 3e-4
    assert g["oi_change_5m"] == pytest.approx(1210.0 / 1000.0 - 1)
    assert g["liq_long_usd_60s"] == pytest.approx(202.0)
    assert g["liq_short_usd_60s"] == pytest.approx(297.0)


def test_missing_inputs_are_none_not_invented(conn: psycopg.Connection[Any]) -> None:
    insert_bars(conn, flat_bars(30))
    f = pit_features(conn, SYMBOL, at(30_000), upbit_market=UPBIT).values
    assert f["close"] is not None
    for name in ("sigma_1s", "cost_roundtrip", "mom_z_30", "mom_z_120", "funding_rate", "oi_change_5m"):
        assert f[name] is None, name
    assert f["upbit_premium_dev"] is None
    stale = pit_features(conn, SYMBOL, at(60_000)).values
    assert stale["close"] is None and stale["spread_bps"] is None


def test_upbit_premium_deviation_is_against_its_trailing_mean(conn: psycopg.Connection[Any]) -> None:
    insert_bars(conn, flat_bars(700))
    rng = np.random.default_rng(3)
    devs: dict[int, float] = {}
    upbit = []
    for s in range(1, 701):
        if s % 11 == 0:  # Upbit seconds without a bar do not enter the series
            continue
        d = float(rng.normal(0.0, 1e-3))
        devs[s] = d
        c = 100.0 * (1 + s / 1e5) * 1400.0 * math.exp(d)
        upbit.append(Bar("upbit", UPBIT, s * 1000, s * 1000, c, c, c, 5.0, 0.0, False))
    insert_bars(conn, upbit)
    t0 = 700_000
    window = [devs[s] for s in devs if s * 1000 > t0 - W_MS]
    expected = devs[700] - sum(window) / len(window)
    got = pit_features(conn, SYMBOL, at(t0), upbit_market=UPBIT).values["upbit_premium_dev"]
    assert got == pytest.approx(expected, abs=1e-12)


def test_t0_must_be_a_bar_end(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(ValueError, match="1 s grid"):
        pit_features(conn, SYMBOL, at(1500))


def test_upbit_market_of_a_binance_symbol() -> None:
    assert upbit_market_for("ETHUSDT") == "KRW-ETH"
