"""An independent, slow, obvious recomputation of the predictor's features at ``t0`` (for the leak check).

It shares the *parameters* of :mod:`cqt.predict.features` and :class:`cqt.labels.DynamicThreshold`
(look-backs, ages, fee, slippage) but none of their code: every input is read with plain SQL that spells
out the point-in-time rule ``ts <= t0 AND recv_ts <= t0`` and every value is computed in plain Python.
If the predictor read a row that was not usable at ``t0`` (a future bar, a bar received after ``t0``, a
metric stamped with its poll time), its stored value differs from this one.

Rules, from the features' documentation (docs/design.md §2-§4):

* bars: Binance ``market_1s`` rows with ``ts`` in ``(t0 - W, t0]`` usable at ``t0``, gap bars kept,
  other rows only with close/high/low; ``close`` etc. from the latest non-gap bar in
  ``(t - MAX_BAR_AGE_S, t]``.
* ``sigma_1s`` = sqrt(mean(r^2)) over log returns between loaded bars exactly 1 s apart, neither a gap
  bar; ``cost_roundtrip`` = 2 fee + 2 slippage + median(spread_bps of non-gap bars) / 1e4. The predictor
  reports both only with at least ``min_returns`` returns, and a run may lower ``min_returns`` (the
  simulator does), which the stored row does not record: so a stored null is accepted when the window
  has fewer returns than the default ``min_returns`` (the largest in use), and a stored value must
  equal the recomputed one. The returned :class:`Reference` carries the count for that rule.
* momentum, funding, open-interest change, liquidation sums, Upbit premium deviation: as documented in
  :mod:`cqt.predict.features`.

The model outputs stored beside the features (``score``, ``ev_long``, ``ev_short``) are not features
and are not audited here (they are functions of the audited values).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cqt.labels import DynamicThreshold
from cqt.predict.features import (
    FUNDING_MAX_AGE_S,
    LIQ_WINDOW_S,
    MAX_BAR_AGE_S,
    MOMENTUM_S,
    OI_LAG_S,
    OI_MAX_AGE_S,
    PREMIUM_MIN_POINTS,
)

THRESHOLD = DynamicThreshold()


@dataclass(frozen=True)
class Bar:
    ts: float  # epoch seconds of the bar end
    close: float | None
    spread_bps: float | None
    imbalance: float | None
    gap: bool


@dataclass(frozen=True)
class Reference:
    """Recomputed features; ``n_returns`` and ``has_spread`` decide whether a stored null is legitimate."""

    values: dict[str, float | None]
    n_returns: int
    has_spread: bool
    revised_inputs: int  # bars in the look-back rewritten after t0 (their t0 version is gone)


_BARS = (
    "SELECT extract(epoch FROM ts)::float8, close, spread_bps, imbalance, gap FROM market_1s"
    " WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND ts > %(since)s AND ts <= %(t0)s"
    " AND recv_ts <= %(t0)s"
    " AND (gap OR (close IS NOT NULL AND high IS NOT NULL AND low IS NOT NULL)) ORDER BY ts"
)
_REVISED = (
    "SELECT count(*) FROM market_1s WHERE exchange = %(exchange)s AND symbol = %(symbol)s"
    " AND ts > %(since)s AND ts <= %(t0)s AND recv_ts > %(t0)s AND revision > 0"
)


def load_bars(conn: psycopg.Connection[Any], exchange: str, symbol: str, t0: datetime) -> list[Bar]:
    since = t0 - timedelta(seconds=THRESHOLD.window_s)
    rows = conn.execute(_BARS, {"exchange": exchange, "symbol": symbol, "since": since, "t0": t0}).fetchall()
    return [Bar(r[0], r[1], _finite(r[2]), _finite(r[3]), bool(r[4])) for r in rows]


def revised(conn: psycopg.Connection[Any], exchange: str, symbol: str, t0: datetime) -> int:
    since = t0 - timedelta(seconds=THRESHOLD.window_s)
    row = conn.execute(
        _REVISED, {"exchange": exchange, "symbol": symbol, "since": since, "t0": t0}
    ).fetchone()
    return int(row[0]) if row else 0


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def latest(bars: list[Bar], t: float) -> Bar | None:
    """The latest non-gap bar with a close and ``ts`` in ``(t - MAX_BAR_AGE_S, t]``."""
    found = None
    for b in bars:
        if t - MAX_BAR_AGE_S < b.ts <= t and not b.gap and b.close is not None:
            found = b
    return found


def returns(bars: list[Bar]) -> list[float]:
    out = []
    for prev, cur in zip(bars, bars[1:], strict=False):
        if cur.ts - prev.ts == 1 and not prev.gap and not cur.gap:
            assert prev.close is not None and cur.close is not None
            out.append(math.log(cur.close / prev.close))
    return out


def momentum(bars: list[Bar], t0: float, n: int, sigma: float | None) -> float | None:
    now, then = latest(bars, t0), latest(bars, t0 - n)
    if now is None or then is None or not sigma:
        return None
    assert now.close is not None and then.close is not None
    return math.log(now.close / then.close) / (sigma * math.sqrt(n))


def premium(binance: list[Bar], upbit: list[Bar], t0: float) -> float | None:
    b = {x.ts: x.close for x in binance if not x.gap and x.close is not None}
    u = {x.ts: x.close for x in upbit if not x.gap and x.close is not None}
    common = sorted(set(b) & set(u))
    if len(common) < PREMIUM_MIN_POINTS or common[-1] <= t0 - MAX_BAR_AGE_S:
        return None
    p = [math.log(u[t] / b[t]) for t in common]
    return p[-1] - math.fsum(p) / len(p)


def _one(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> float | None:
    row = conn.execute(query, params).fetchone()
    return None if row is None or row[0] is None else float(row[0])


_FUNDING = (
    "SELECT funding_rate FROM mark_price WHERE exchange = 'binance' AND symbol = %(symbol)s"
    " AND funding_rate IS NOT NULL AND ts > %(since)s AND ts <= %(t0)s AND recv_ts <= %(t0)s"
    " ORDER BY ts DESC LIMIT 1"
)
_OI = (
    "SELECT value FROM metrics WHERE source = 'binance' AND symbol = %(symbol)s AND metric = 'open_interest'"
    " AND ts > %(since)s AND ts <= %(until)s AND ts <= %(t0)s AND recv_ts <= %(t0)s ORDER BY ts DESC LIMIT 1"
)
_LIQ = (
    "SELECT side, avg_price * qty FROM liquidations WHERE exchange = 'binance' AND symbol = %(symbol)s"
    " AND ts > %(since)s AND ts <= %(t0)s AND recv_ts <= %(t0)s"
)


def reference(
    conn: psycopg.Connection[Any], symbol: str, upbit_market: str | None, t0: datetime
) -> Reference:
    """The features of ``symbol`` at ``t0`` recomputed from rows usable at ``t0``."""
    t = t0.timestamp()
    bars = load_bars(conn, "binance", symbol, t0)
    rets = returns(bars)
    rms = math.sqrt(math.fsum(r * r for r in rets) / len(rets)) if rets else None
    spreads = [b.spread_bps for b in bars if not b.gap and b.spread_bps is not None]
    cost = None
    if spreads and len(rets) >= 1:
        cost = 2 * THRESHOLD.fee + 2 * THRESHOLD.slippage + statistics.median(spreads) / 10_000
    v: dict[str, float | None] = {"sigma_1s": rms, "cost_roundtrip": cost}
    last = latest(bars, t)
    v["close"] = None if last is None else last.close
    v["bar_age_s"] = None if last is None else t - last.ts
    v["spread_bps"] = None if last is None else last.spread_bps
    v["imbalance"] = None if last is None else last.imbalance
    for n in MOMENTUM_S:
        v[f"mom_z_{n}"] = momentum(bars, t, n, rms)
    p: dict[str, Any] = {"symbol": symbol, "t0": t0}
    v["funding_rate"] = _one(conn, _FUNDING, {**p, "since": t0 - timedelta(seconds=FUNDING_MAX_AGE_S)})

    def oi(until: datetime) -> float | None:
        return _one(conn, _OI, {**p, "until": until, "since": until - timedelta(seconds=OI_MAX_AGE_S)})

    oi_now, oi_then = oi(t0), oi(t0 - timedelta(seconds=OI_LAG_S))
    v["oi_change_5m"] = None if oi_now is None or not oi_then else oi_now / oi_then - 1
    liq = conn.execute(_LIQ, {**p, "since": t0 - timedelta(seconds=LIQ_WINDOW_S)}).fetchall()
    v["liq_long_usd_60s"] = math.fsum(x for side, x in liq if side == "SELL")
    v["liq_short_usd_60s"] = math.fsum(x for side, x in liq if side == "BUY")
    n_revised = revised(conn, "binance", symbol, t0)
    if upbit_market is not None:
        v["upbit_premium_dev"] = premium(bars, load_bars(conn, "upbit", upbit_market, t0), t)
        n_revised += revised(conn, "upbit", upbit_market, t0)
    return Reference(v, len(rets), bool(spreads), n_revised)
