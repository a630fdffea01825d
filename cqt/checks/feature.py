"""feature: null rates and value ranges of ``market_1s`` and ``predictions`` in the window.

Bars, per (exchange, symbol) of the selection, over bars with ``ts`` in the window:

* at least one bar; ``null_close`` and ``null_spread`` = share of non-gap bars without a close / a spread,
  each <= ``CHECK_MAX_NULL_RATE``;
* ``bad_prices``: non-gap bars with a non-positive price or ``low <= close <= high`` broken, must be 0;
  ``negative_spread``: bars with ``spread_bps < 0`` (a crossed book), must be 0;
* ``stale_share`` <= ``CHECK_MAX_STALE_SHARE`` and ``gap_share`` <= ``CHECK_MAX_GAP_SHARE``.

Predictions, per Binance symbol, over predictions with ``ts`` in the window:

* at least one; ``bad_probabilities``: a probability outside [0, 1] or the three not summing to 1
  (within 1e-9), must be 0; ``bad_values``: ``r_t <= 0``, ``close <= 0``, ``spread_bps < 0``,
  ``sigma_1s < 0`` or ``cost_roundtrip <= 0`` in the stored features, must be 0;
* ``null_<feature>`` <= ``CHECK_MAX_NULL_RATE`` for every feature of :mod:`cqt.predict.features`, counted
  only over predictions made at least the feature's warm-up after their bot run started (``bot_runs``):
  a 120 s momentum cannot exist 20 s after a start, and that is not a null burst. A feature with no
  prediction past its warm-up is reported as not judged. ``upbit_premium_dev`` is judged only when the
  symbol's Upbit market is configured.
"""

from __future__ import annotations

import math
import sys
from datetime import datetime
from typing import Any

from cqt.checks.context import CheckContext
from cqt.checks.result import Measurement, at_least, at_most, equals
from cqt.checks.run import main
from cqt.labels import DynamicThreshold
from cqt.predict.features import FEATURE_NAMES, OI_LAG_S, PREMIUM_MIN_POINTS, collected_upbit_market

NAME = "feature"
SUM_TOLERANCE = 1e-9
# Seconds after a bot start before each feature can exist (its look-back), plus MARGIN_S for the first bars
# and polls to arrive. sigma needs min_returns 1 s returns; momentum needs sigma and its own look-back.
MARGIN_S = 30.0
_SIGMA_S = float(DynamicThreshold().min_returns)
WARM_UP_S: dict[str, float] = {
    "sigma_1s": _SIGMA_S,
    "cost_roundtrip": _SIGMA_S,
    "mom_z_30": max(30.0, _SIGMA_S),
    "mom_z_120": max(120.0, _SIGMA_S),
    "oi_change_5m": float(OI_LAG_S),
    "upbit_premium_dev": float(PREMIUM_MIN_POINTS),
}


def check(ctx: CheckContext) -> list[Measurement]:
    out: list[Measurement] = []
    for exchange, symbols in (("binance", ctx.binance_symbols), ("upbit", ctx.upbit_markets)):
        for symbol in symbols:
            out += bars(ctx, exchange, symbol)
    for symbol in ctx.binance_symbols:
        out += predictions(ctx, symbol)
    return out


_BARS = (
    "SELECT count(*), count(*) FILTER (WHERE NOT gap),"
    " count(*) FILTER (WHERE NOT gap AND close IS NULL),"
    " count(*) FILTER (WHERE NOT gap AND spread_bps IS NULL),"
    " count(*) FILTER (WHERE NOT gap AND (open <= 0 OR high <= 0 OR low <= 0 OR close <= 0"
    "   OR bid_close <= 0 OR ask_close <= 0 OR close > high OR close < low)),"
    " count(*) FILTER (WHERE spread_bps < 0),"
    " count(*) FILTER (WHERE stale), count(*) FILTER (WHERE gap)"
    " FROM market_1s WHERE exchange = %(exchange)s AND symbol = %(symbol)s"
    " AND ts > %(start)s AND ts <= %(now)s"
)


def bars(ctx: CheckContext, exchange: str, symbol: str) -> list[Measurement]:
    w, s = ctx.window, ctx.settings
    params = {"exchange": exchange, "symbol": symbol, "start": w.start, "now": w.now}
    row = ctx.conn.execute(_BARS, params).fetchone()
    assert row is not None
    n, usable, null_close, null_spread, bad, negative, stale, gap = (int(v) for v in row)
    name = f"market_1s {exchange}/{symbol}"
    out = [at_least(f"{name} bars", n, 1)]
    if n == 0:
        return out
    out += [
        at_most(
            f"{name} null_close",
            share(null_close, usable),
            s.check_max_null_rate,
            "",
            f"{null_close}/{usable}",
        ),
        at_most(
            f"{name} null_spread",
            share(null_spread, usable),
            s.check_max_null_rate,
            "",
            f"{null_spread}/{usable}",
        ),
        equals(f"{name} bad_prices", bad, 0, "", "non-positive price or close outside [low, high]"),
        equals(f"{name} negative_spread", negative, 0),
        at_most(f"{name} stale_share", stale / n, s.check_max_stale_share, "", f"{stale}/{n}"),
        at_most(f"{name} gap_share", gap / n, s.check_max_gap_share, "", f"{gap}/{n}"),
    ]
    return out


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_PREDICTIONS = (
    "SELECT p.ts, p.p_up, p.p_down, p.p_none, p.r_t, p.features,"
    " extract(epoch FROM p.ts"
    "   - (SELECT max(r.started_at) FROM bot_runs r WHERE r.started_at <= p.ts))::float8"
    " FROM predictions p WHERE p.symbol = %(symbol)s AND p.ts > %(start)s AND p.ts <= %(now)s"
)


def predictions(ctx: CheckContext, symbol: str) -> list[Measurement]:
    w, s = ctx.window, ctx.settings
    rows = ctx.conn.execute(_PREDICTIONS, {"symbol": symbol, "start": w.start, "now": w.now}).fetchall()
    name = f"predictions {symbol}"
    out = [at_least(f"{name} count", len(rows), 1)]
    if not rows:
        return out
    bad_p = [r[0] for r in rows if not probabilities_ok(r[1], r[2], r[3])]
    bad_v = [(r[0], why) for r in rows for why in bad_values(r[4], r[5])]
    out.append(
        equals(f"{name} bad_probabilities", len(bad_p), 0, "", first(bad_p, "outside [0, 1] or sum != 1"))
    )
    out.append(equals(f"{name} bad_values", len(bad_v), 0, "", first(bad_v, "")))
    with_upbit = collected_upbit_market(symbol, s.upbit_markets) is not None
    for feat in FEATURE_NAMES:
        if feat == "upbit_premium_dev" and not with_upbit:
            continue
        warm = WARM_UP_S.get(feat, 0.0) + MARGIN_S
        judged = [r[5].get(feat) for r in rows if r[6] is None or r[6] >= warm]
        nulls = sum(v is None for v in judged)
        label = f"{name} null_{feat}"
        if not judged:
            out.append(
                Measurement(
                    label,
                    None,
                    s.check_max_null_rate,
                    "<=",
                    "",
                    True,
                    f"not judged: no prediction {warm:g} s after its run started",
                )
            )
            continue
        detail = f"{nulls}/{len(judged)} after a {warm:g} s warm-up"
        out.append(at_most(label, nulls / len(judged), s.check_max_null_rate, "", detail))
    return out


def probabilities_ok(*p: float) -> bool:
    return all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in p) and abs(sum(p) - 1.0) <= SUM_TOLERANCE


def bad_values(r_t: float, features: dict[str, Any]) -> list[str]:
    """Reasons the stored values are out of range (empty when all are fine)."""
    # name -> (value, strictly positive?); every one must be >= 0, the strict ones > 0
    rules: dict[str, tuple[Any, bool]] = {
        "r_t": (r_t, True),
        "close": (features.get("close"), True),
        "spread_bps": (features.get("spread_bps"), False),
        "sigma_1s": (features.get("sigma_1s"), False),
        "cost_roundtrip": (features.get("cost_roundtrip"), True),
    }
    return [
        f"{k}={v}" for k, (v, strict) in rules.items() if v is not None and (v < 0 or (strict and v == 0))
    ]


def first(items: list[Any], what: str) -> str:
    """The first offending prediction, for the detail column."""
    if not items:
        return what
    head = items[0]
    ts, why = head if isinstance(head, tuple) else (head, what)
    assert isinstance(ts, datetime)
    return f"first at {ts.isoformat()}: {why}"


if __name__ == "__main__":
    sys.exit(main(NAME, check))
