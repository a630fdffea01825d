"""The settler against a pure-Python triple-barrier reference; uncovered horizons stay unlabelled."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cqt.predict.predictor import Prediction, write_predictions
from cqt.predict.settle import settle
from tests.predict.rows import at, empty_tables, one
from tests.predict.synthetic import Bar, Shape, bar_series, insert_bars

SYMBOL = "BTCUSDT"
OUTCOME = "SELECT y, fwd_return, label_ts, touch_ts, ambiguous, brier, log_loss, settled_at, features"


def prediction(t0_ms: int, horizon_s: int, r_t: float, probs: tuple[float, float, float]) -> Prediction:
    p_up, p_down, p_none = probs
    return Prediction(
        SYMBOL,
        at(t0_ms),
        datetime.now(UTC),
        "baseline-v1",
        horizon_s,
        r_t,
        p_up,
        p_down,
        p_none,
        0.0,
        "flat",
        {},
    )


def ref_triple_barrier(bars: list[Bar], now: int, t0: int, h: int, r: float) -> dict[str, Any] | None:
    """First touch of close(t0) * (1 +- r) by high/low in (t0, t0 + h]; None unless every second of
    [t0, t0 + h] has a priced, non-gap bar known by ``now``. A bar touching both resolves by its close."""
    known = {b.ts: b for b in bars if b.ts <= now and b.recv <= now}
    seconds = [t0 + 1000 * i for i in range(h + 1)]
    if any(t not in known or known[t].gap or known[t].close is None for t in seconds):
        return None
    c0 = known[t0].close
    assert c0 is not None
    upper, lower = c0 * (1 + r), c0 * (1 - r)
    y, touch, ambiguous = 0, None, False
    for t in seconds[1:]:
        b = known[t]
        assert b.high is not None and b.low is not None and b.close is not None
        up, down = b.high >= upper, b.low <= lower
        if up or down:
            ambiguous = up and down
            y = (1 if b.close >= c0 else -1) if ambiguous else (1 if up else -1)
            touch = t
            break
    end_close = known[seconds[-1]].close
    assert end_close is not None
    return {"y": y, "fwd_return": end_close / c0 - 1, "touch": touch, "ambiguous": ambiguous}


def hand_brier(probs: tuple[float, float, float], y: int) -> float:
    p_up, p_down, p_none = probs
    return (p_up - (y == 1)) ** 2 + (p_down - (y == -1)) ** 2 + (p_none - (y == 0)) ** 2


def hand_log_loss(probs: tuple[float, float, float], y: int) -> float:
    p = {1: probs[0], -1: probs[1], 0: probs[2]}[y]
    return -math.log(min(1 - 1e-6, max(1e-6, p)))


probabilities = st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(
    lambda ab: (min(ab), max(ab) - min(ab), 1.0 - max(ab))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    horizon_s=st.integers(3, 90),
    p_missing=st.sampled_from([0.0, 0.003, 0.02]),
    p_gap=st.sampled_from([0.0, 0.003, 0.02]),
    preds=st.lists(
        st.tuples(st.integers(0, 200), st.floats(1e-4, 4e-3), probabilities), min_size=1, max_size=6
    ),
)
def test_settled_labels_match_the_reference(
    conn: psycopg.Connection[Any],
    seed: int,
    horizon_s: int,
    p_missing: float,
    p_gap: float,
    preds: list[tuple[int, float, tuple[float, float, float]]],
) -> None:
    empty_tables(conn)
    rng = np.random.default_rng(seed)
    bars = bar_series(
        rng, "binance", SYMBOL, 100.0, Shape(n=300, p_missing=p_missing, p_gap=p_gap, p_late=0.0)
    )
    insert_bars(conn, bars)
    made = {}
    for offset, r_t, probs in preds:
        t0 = (1 + offset) * 1000
        made[t0] = (r_t, probs)
    write_predictions(conn, [prediction(t0, horizon_s, r, p) for t0, (r, p) in made.items()])
    now = max(b.recv for b in bars)

    assert settle(conn, at(now)) == len(made)
    for t0, (r_t, probs) in made.items():
        y, fwd, label_ts, touch_ts, ambiguous, brier, log_loss, settled_at, features = one(
            conn, OUTCOME + " FROM predictions WHERE ts = %s", (at(t0),)
        )
        assert settled_at == at(now)
        want = ref_triple_barrier(bars, now, t0, horizon_s, r_t)
        if want is None:
            assert (y, fwd, label_ts, brier) == (None, None, None, None)
            assert features["settle"]["status"] == "unlabelled"
            continue
        assert (y, ambiguous) == (want["y"], want["ambiguous"])
        assert fwd == pytest.approx(want["fwd_return"], rel=1e-12, abs=1e-15)
        assert touch_ts == (None if want["touch"] is None else at(want["touch"]))
        assert label_ts == at(t0 + horizon_s * 1000)
        assert label_ts >= at(t0) + timedelta(seconds=horizon_s)
        assert brier == pytest.approx(hand_brier(probs, y), abs=1e-12)
        assert log_loss == pytest.approx(hand_log_loss(probs, y), abs=1e-12)


def priced(
    ts_s: int, close: float, high: float | None = None, low: float | None = None, *, gap: bool = False
) -> Bar:
    return Bar(
        "binance", SYMBOL, ts_s * 1000, ts_s * 1000 + 2000, close, high or close, low or close, 1.0, 0.0, gap
    )


def test_first_touch_by_hand(conn: psycopg.Connection[Any]) -> None:
    # t0 = 10 s, close 100, r_t 1 %: barriers 101 / 99. 13 s reaches 101.5 first; 15 s would be DOWN.
    bars = [priced(s, 100.0) for s in range(10, 21)]
    bars[3] = priced(13, 100.4, high=101.5)
    bars[5] = priced(15, 99.2, low=98.0)
    bars[10] = priced(20, 99.5)
    insert_bars(conn, bars)
    write_predictions(conn, [prediction(10_000, 10, 0.01, (0.5, 0.2, 0.3))])
    assert settle(conn, at(30_000)) == 1
    y, fwd, label_ts, touch_ts, ambiguous, brier, log_loss, *_ = one(conn, OUTCOME + " FROM predictions")
    assert (y, touch_ts, label_ts, ambiguous) == (1, at(13_000), at(20_000), False)
    assert fwd == pytest.approx(99.5 / 100.0 - 1)
    assert brier == pytest.approx(0.5**2 + 0.2**2 + 0.3**2)
    assert log_loss == pytest.approx(-math.log(0.5))


@pytest.mark.parametrize("hole", ["gap", "missing"])
def test_uncovered_horizon_is_never_none(conn: psycopg.Connection[Any], hole: str) -> None:
    """Prices never move, so a wrongly labelled horizon would read NONE; it must stay NULL instead."""
    bars = [priced(s, 100.0) for s in range(10, 31)]
    if hole == "gap":
        bars[7] = priced(17, 100.0, gap=True)
    else:
        del bars[7]
    insert_bars(conn, bars)
    write_predictions(
        conn, [prediction(10_000, 10, 0.01, (0.3, 0.3, 0.4)), prediction(18_000, 10, 0.01, (0.3, 0.3, 0.4))]
    )
    assert settle(conn, at(40_000)) == 2
    rows = conn.execute(
        "SELECT ts, y, label_ts, settled_at, features FROM predictions ORDER BY ts"
    ).fetchall()
    (ts1, y1, label1, settled1, f1), (ts2, y2, label2, _, _) = rows
    assert (y1, label1, settled1) == (None, None, at(40_000))
    assert f1["settle"] == {"status": "unlabelled", "expected_s": 11, "missing_s": int(hole == "missing"),
                            "gap_bars": int(hole == "gap")}  # fmt: skip
    assert (y2, label2) == (0, at(28_000))  # the horizon after the hole is covered: a real NONE


def test_waits_for_bars_known_by_now(conn: psycopg.Connection[Any]) -> None:
    bars = [priced(s, 100.0) for s in range(10, 21)]
    insert_bars(conn, bars)  # each bar is received 2 s after it ends
    write_predictions(conn, [prediction(10_000, 10, 0.01, (0.3, 0.3, 0.4))])
    assert settle(conn, at(21_999)) == 0  # the bar ending at 20 s is not known yet
    assert one(conn, "SELECT settled_at FROM predictions") == (None,)
    assert settle(conn, at(22_000)) == 1
    assert settle(conn, at(23_000)) == 0  # settled once


def test_bars_that_never_come_are_given_up_after_max_wait(conn: psycopg.Connection[Any]) -> None:
    insert_bars(conn, [priced(s, 100.0) for s in range(10, 16)])
    write_predictions(conn, [prediction(10_000, 10, 0.01, (0.3, 0.3, 0.4))])
    assert settle(conn, at(619_999), max_wait_s=600) == 0
    assert settle(conn, at(620_000), max_wait_s=600) == 1
    y, settled_at, features = one(conn, "SELECT y, settled_at, features FROM predictions")
    assert (y, settled_at, features["settle"]["missing_s"]) == (None, at(620_000), 5)
