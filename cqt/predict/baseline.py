"""``baseline-v1``: a transparent, untrained model of the triple-barrier outcome over ``H`` seconds.

Probabilities. With ``a = r_t / (sigma_1s * sqrt(H))`` the barrier distance in horizon standard
deviations, a driftless Brownian price stays between both barriers with probability
``P(sup_{s <= 1} |B_s| < a)`` (:func:`no_touch_probability`); that is ``p_none``. The rest is split by a
fixed linear score of scaled features::

    s = sum_i w_i * clip(x_i / scale_i, -3, 3)        (a missing feature adds 0; table WEIGHTS)
    p_up = (1 - p_none) * logistic(s),  p_down = (1 - p_none) * (1 - logistic(s))

Expected value, costs counted once. ``r_t`` is a *gross* price-move barrier: its cost floor in the
dynamic rule (docs/design.md §4) only keeps the barrier from being smaller than a round trip; nothing is
deducted there. The round-trip cost is deducted here, once, per trade. A long gains ``+r_t`` on UP,
loses ``r_t`` on DOWN and is taken as flat on NONE::

    EV_long  = (p_up - p_down) * r_t - cost_roundtrip
    EV_short = (p_down - p_up) * r_t - cost_roundtrip

The action is ``long`` if ``EV_long > 0``, ``short`` if ``EV_short > 0`` (both cannot be positive since
they sum to ``-2 * cost_roundtrip``), else ``flat``; ``expected_value = max(EV_long, EV_short)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

MODEL = "baseline-v1"
Z_CLIP = 3.0

# feature -> (scale, weight). Signs: short-term momentum and book pressure continue; high funding means
# crowded longs (contrarian); short liquidations are forced buys; a rising Korean premium leads.
WEIGHTS: dict[str, tuple[float, float]] = {
    "mom_z_30": (1.0, 0.10),
    "mom_z_120": (1.0, 0.10),
    "imbalance": (0.5, 0.15),
    "funding_rate": (1e-4, -0.05),
    "liq_net_usd_60s": (1e5, 0.05),
    "upbit_premium_dev": (1e-3, 0.10),
}

Action = Literal["long", "short", "flat"]


@dataclass(frozen=True)
class BaselineOutput:
    """Probabilities, score, expected values and the action of one prediction."""

    p_up: float
    p_down: float
    p_none: float
    score: float
    ev_long: float
    ev_short: float
    expected_value: float
    action: Action


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def no_touch_theta(a: float) -> float:
    """``P(sup |B| < a)`` by the eigenfunction series; converges fast for small ``a``."""
    terms = (
        (-1.0 if k % 2 else 1.0) / m * math.exp(-(m * m) * math.pi**2 / (8.0 * a * a))
        for k, m in ((k, 2 * k + 1) for k in range(16))
    )
    return 4.0 / math.pi * math.fsum(terms)


def no_touch_images(a: float) -> float:
    """``P(sup |B| < a)`` by the reflection (image) series; converges fast for large ``a``."""
    return math.fsum(
        (-1.0 if k % 2 else 1.0) * (_phi((2 * k + 1) * a) - _phi((2 * k - 1) * a)) for k in range(-16, 17)
    )


def no_touch_probability(a: float) -> float:
    """Probability that a standard Brownian motion stays inside ``(-a, a)`` over unit time."""
    if not a > 0:
        return 0.0
    if math.isinf(a):
        return 1.0
    p = no_touch_theta(a) if a < 1.0 else no_touch_images(a)
    return min(1.0, max(0.0, p))


def score(values: Mapping[str, float | None]) -> float:
    """The linear direction score over the available features (see :data:`WEIGHTS`)."""
    x = dict(values)
    long_liq, short_liq = x.get("liq_long_usd_60s"), x.get("liq_short_usd_60s")
    x["liq_net_usd_60s"] = None if long_liq is None or short_liq is None else short_liq - long_liq
    total = 0.0
    for name, (scale, weight) in WEIGHTS.items():
        v = x.get(name)
        if v is not None and math.isfinite(v):
            total += weight * min(Z_CLIP, max(-Z_CLIP, v / scale))
    return total


def baseline(
    values: Mapping[str, float | None],
    *,
    r_t: float,
    sigma_1s: float,
    cost_roundtrip: float,
    horizon_s: int,
) -> BaselineOutput:
    """The model's output for features ``values`` (formulas in the module docstring)."""
    spread = sigma_1s * math.sqrt(horizon_s)
    p_none = no_touch_probability(r_t / spread if spread > 0 else math.inf)
    s = score(values)
    share_up = 1.0 / (1.0 + math.exp(-s))
    p_up = (1.0 - p_none) * share_up
    p_down = (1.0 - p_none) * (1.0 - share_up)
    ev_long = (p_up - p_down) * r_t - cost_roundtrip
    ev_short = (p_down - p_up) * r_t - cost_roundtrip
    action: Action = "long" if ev_long > 0 else "short" if ev_short > 0 else "flat"
    return BaselineOutput(p_up, p_down, p_none, s, ev_long, ev_short, max(ev_long, ev_short), action)
