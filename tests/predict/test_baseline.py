"""baseline-v1: valid probabilities, the documented EV rule by hand, the no-touch probability."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cqt.predict.baseline import baseline, no_touch_images, no_touch_probability, no_touch_theta
from cqt.predict.predictor import decision_times

FEATURES = ("mom_z_30", "mom_z_120", "imbalance", "funding_rate", "liq_long_usd_60s", "liq_short_usd_60s",
            "upbit_premium_dev", "spread_bps", "oi_change_5m")  # fmt: skip

values = st.dictionaries(
    st.sampled_from(FEATURES),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)),
)


@given(
    feats=values,
    r_t=st.floats(1e-6, 0.5),
    sigma=st.floats(0.0, 0.05),
    cost=st.floats(0.0, 0.01),
    horizon_s=st.integers(1, 3600),
)
def test_probabilities_are_valid_and_sum_to_one(
    feats: dict[str, float | None], r_t: float, sigma: float, cost: float, horizon_s: int
) -> None:
    out = baseline(feats, r_t=r_t, sigma_1s=sigma, cost_roundtrip=cost, horizon_s=horizon_s)
    for p in (out.p_up, out.p_down, out.p_none):
        assert 0.0 <= p <= 1.0
    assert out.p_up + out.p_down + out.p_none == pytest.approx(1.0, abs=1e-12)
    assert out.expected_value == max(out.ev_long, out.ev_short)
    assert out.action == ("long" if out.ev_long > 0 else "short" if out.ev_short > 0 else "flat")
    assert not (out.ev_long > 0 and out.ev_short > 0)


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_ev_by_hand_when_the_barrier_is_tiny() -> None:
    """sigma_1s * sqrt(H) dwarfs r_t, so p_none = 0 and the split is logistic(score) alone.

    score = 0.10 * 2.0 (mom_z_30) + 0.15 * (0.6 / 0.5) (imbalance) - 0.05 * 3 (funding 5e-4 / 1e-4 clipped to 3)
    """
    s = 0.10 * 2.0 + 0.15 * 1.2 - 0.05 * 3.0
    p_up = logistic(s)
    p_down = 1.0 - p_up
    r_t, cost = 0.004, 0.0011
    ev_long = p_up * r_t - p_down * r_t - cost
    ev_short = p_down * r_t - p_up * r_t - cost
    out = baseline(
        {"mom_z_30": 2.0, "imbalance": 0.6, "funding_rate": 5e-4, "mom_z_120": None},
        r_t=r_t,
        sigma_1s=1.0,
        cost_roundtrip=cost,
        horizon_s=120,
    )
    assert out.p_up == pytest.approx(p_up)
    assert out.p_down == pytest.approx(p_down)
    assert out.p_none == 0.0
    assert out.ev_long == pytest.approx(ev_long, abs=1e-15)
    assert out.ev_short == pytest.approx(ev_short, abs=1e-15)
    assert out.expected_value == pytest.approx(max(ev_long, ev_short), abs=1e-15)
    assert out.action == "flat"  # (p_up - p_down) * r_t = 0.000458 < cost


def brownian_no_touch(a: float) -> float:
    """P(sup |B_s| < a, s <= 1), written out from the docstring's eigenfunction series, 60 terms."""
    return float(
        4
        / math.pi
        * sum(
            (-1) ** k / (2 * k + 1) * math.exp(-((2 * k + 1) ** 2) * math.pi**2 / (8 * a * a))
            for k in range(60)
        )
    )


def test_ev_by_hand_with_a_real_no_touch_probability() -> None:
    r_t, sigma, h, cost = 0.003, 2e-4, 120, 0.0011
    p_none = brownian_no_touch(r_t / (sigma * math.sqrt(h)))
    s = 0.10 * 3.0 + 0.10 * 1.5 + 0.05 * ((4e5 - 1e5) / 1e5) + 0.10 * (2e-3 / 1e-3)
    p_up = (1 - p_none) * logistic(s)
    p_down = (1 - p_none) * (1 - logistic(s))
    feats = {"mom_z_30": 7.0, "mom_z_120": 1.5, "liq_long_usd_60s": 1e5, "liq_short_usd_60s": 4e5,
             "upbit_premium_dev": 2e-3, "oi_change_5m": 0.3}  # fmt: skip
    out = baseline(feats, r_t=r_t, sigma_1s=sigma, cost_roundtrip=cost, horizon_s=h)
    assert out.p_none == pytest.approx(p_none, rel=1e-12)
    assert out.p_up == pytest.approx(p_up, rel=1e-12)
    assert out.ev_long == pytest.approx((p_up - p_down) * r_t - cost, rel=1e-9)
    assert out.action == ("long" if (p_up - p_down) * r_t > cost else "flat")


@pytest.mark.parametrize("a", [0.5, 0.8, 1.0, 1.3, 1.7, 2.5])
def test_both_no_touch_series_agree(a: float) -> None:
    assert no_touch_theta(a) == pytest.approx(no_touch_images(a), abs=1e-13)


def test_no_touch_limits_and_monotone() -> None:
    grid = [0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf]
    probs = [no_touch_probability(a) for a in grid]
    assert probs[0] == 0.0 and probs[-1] == 1.0
    assert probs[-2] == pytest.approx(1.0, abs=1e-12)
    assert all(x <= y for x, y in zip(probs, probs[1:], strict=False))


def test_no_touch_matches_a_simulated_random_walk() -> None:
    """Monte Carlo with discrete monitoring; the 0.5826 * sqrt(dt) shift corrects the discrete bias."""
    rng = np.random.default_rng(11)
    steps, paths, a = 1000, 8000, 1.0
    dt = 1.0 / steps
    inside = np.ones(paths, dtype=bool)
    pos = np.zeros(paths)
    for _ in range(steps):
        pos += rng.normal(0.0, math.sqrt(dt), paths)
        inside &= np.abs(pos) < a
    simulated = float(inside.mean())
    assert simulated == pytest.approx(no_touch_probability(a + 0.5826 * math.sqrt(dt)), abs=0.02)


def test_decision_times_are_a_5_second_grid() -> None:
    t = datetime(2026, 3, 2, 12, 0, 7, tzinfo=UTC)
    assert decision_times(t) == [datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)]
    after = datetime(2026, 3, 2, 11, 59, 55, tzinfo=UTC)
    assert decision_times(t, after=after) == [
        datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC),
    ]
    assert decision_times(t, after=datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)) == []
    assert decision_times(datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC), every_s=10) == [
        datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC)
    ]
