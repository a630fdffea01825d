"""Point-in-time features of one Binance USDⓈ-M symbol at a decision time ``t0`` (a bar end).

Every row read here passes :func:`cqt.predict.pit.usable_at` at ``t0`` (``ts <= t0 AND recv_ts <= t0``),
so deleting every row with ``ts > t0`` or ``recv_ts > t0`` changes nothing (truncation invariance).
A feature is ``None`` when its inputs are missing; nothing is filled in or carried from outside its
look-back. Features (all floats):

* ``close``: close of the latest usable non-gap Binance bar at most ``MAX_BAR_AGE_S`` old;
  ``bar_age_s``: ``t0`` minus that bar's end (the strict rule means the bar ending at ``t0`` is usable
  only when it was emitted by ``t0``; live it is usually a few seconds old).
* ``sigma_1s``, ``cost_roundtrip``: the label kernel's volatility and round-trip cost over
  ``(t0 - W, t0]`` (see :mod:`cqt.predict.threshold`).
* ``mom_z_30``, ``mom_z_120``: ``ln(close(t0) / close(t0 - n)) / (sigma_1s * sqrt(n))`` with ``close(t)``
  the latest usable non-gap close in ``(t - MAX_BAR_AGE_S, t]``.
* ``spread_bps``, ``imbalance``: top of book at the close of that latest bar.
* ``funding_rate``: latest ``mark_price.funding_rate`` within ``FUNDING_MAX_AGE_S``.
* ``oi_change_5m``: ``oi(t0) / oi(t0 - 300 s) - 1`` with ``oi(t)`` the latest Binance ``open_interest``
  metric with ``ts <= t`` within ``OI_MAX_AGE_S``, both usable at ``t0``.
* ``liq_long_usd_60s`` / ``liq_short_usd_60s``: ``sum(avg_price * qty)`` of liquidations with ``ts`` in
  ``(t0 - 60 s, t0]``; SELL orders close longs, BUY orders close shorts. The forceOrder stream only
  pushes events, so no row means 0, not missing.
* ``upbit_premium_dev``: no KRW/USD rate is collected, so the Upbit premium cannot be measured in
  level. Instead ``p(t) = ln(upbit close / binance close)`` on the seconds where both venues have a
  usable non-gap bar; the feature is the latest ``p`` (at most ``MAX_BAR_AGE_S`` old) minus the mean
  of ``p`` over ``(t0 - W, t0]`` (needs ``PREMIUM_MIN_POINTS`` points). The exchange rate moves slowly
  against a 10-minute window, so the deviation isolates the Korean premium's recent move.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from cqt.collect.rows import dt_to_ms
from cqt.labels import DynamicThreshold
from cqt.predict.pit import BarWindow, load_bars, usable_at
from cqt.predict.threshold import cost_roundtrip, sigma_1s

BINANCE = "binance"
UPBIT = "upbit"
MOMENTUM_S = (30, 120)
MAX_BAR_AGE_S = 10
FUNDING_MAX_AGE_S = 60
OI_LAG_S = 300
OI_MAX_AGE_S = 600
LIQ_WINDOW_S = 60
PREMIUM_MIN_POINTS = 60

FEATURE_NAMES = (
    "close",
    "bar_age_s",
    "sigma_1s",
    "cost_roundtrip",
    *(f"mom_z_{n}" for n in MOMENTUM_S),
    "spread_bps",
    "imbalance",
    "funding_rate",
    "oi_change_5m",
    "liq_long_usd_60s",
    "liq_short_usd_60s",
    "upbit_premium_dev",
)


@dataclass(frozen=True)
class Features:
    """Feature values of ``symbol`` at ``t0`` and the Binance bar window (usable at ``t0``) behind them."""

    symbol: str
    t0: datetime
    values: dict[str, float | None]
    bars: BarWindow


def upbit_market_for(symbol: str) -> str:
    """The Upbit KRW market of a Binance USDⓈ-M symbol: ``BTCUSDT`` -> ``KRW-BTC``."""
    return "KRW-" + symbol.removesuffix("USDT")


def collected_upbit_market(symbol: str, upbit_markets: Sequence[str]) -> str | None:
    """The Upbit market of ``symbol`` if it is among the collected ``upbit_markets``, else ``None``."""
    market = upbit_market_for(symbol)
    return market if market in upbit_markets else None


def pit_features(
    conn: psycopg.Connection[Any],
    symbol: str,
    t0: datetime,
    *,
    upbit_market: str | None = None,
    threshold: DynamicThreshold | None = None,
) -> Features:
    """Features of Binance ``symbol`` at ``t0`` from rows usable at ``t0`` only.

    ``t0`` must be a whole second (a bar end). ``threshold`` gives the look-back ``W`` and the
    parameters of ``sigma_1s`` and ``cost_roundtrip`` (default :class:`DynamicThreshold`).
    ``upbit_market`` (e.g. ``KRW-BTC``) enables ``upbit_premium_dev``.
    """
    t0_ms = dt_to_ms(t0)
    if t0_ms % 1000:
        raise ValueError(f"t0 must be a bar end on the 1 s grid, got {t0.isoformat()}")
    thr = threshold or DynamicThreshold()
    since = t0 - timedelta(seconds=thr.window_s)
    bars = load_bars(conn, BINANCE, symbol, since, t0, t0)
    values: dict[str, float | None] = dict.fromkeys(FEATURE_NAMES)
    sigma = sigma_1s(bars, t0_ms, thr)
    values["sigma_1s"] = sigma
    values["cost_roundtrip"] = cost_roundtrip(bars, t0_ms, thr)
    last = latest_bar(bars, t0_ms)
    if last is not None:
        values["close"] = float(bars.close[last])
        values["bar_age_s"] = (t0_ms - int(bars.ts[last])) / 1000
        values["spread_bps"] = finite_or_none(bars.spread_bps[last])
        values["imbalance"] = finite_or_none(bars.imbalance[last])
        for n in MOMENTUM_S:
            values[f"mom_z_{n}"] = momentum_z(bars, t0_ms, n, sigma)
    params = {"symbol": symbol, "asof": t0}
    values["funding_rate"] = _scalar(
        conn, _FUNDING, {**params, "since": t0 - timedelta(seconds=FUNDING_MAX_AGE_S)}
    )
    values["oi_change_5m"] = _oi_change(conn, params, t0)
    liq_since = t0 - timedelta(seconds=LIQ_WINDOW_S)
    liq = conn.execute(_LIQUIDATIONS, {**params, "since": liq_since}).fetchone()
    values["liq_long_usd_60s"], values["liq_short_usd_60s"] = (
        (float(liq[0]), float(liq[1])) if liq else (0.0, 0.0)
    )
    if upbit_market is not None:
        upbit = load_bars(conn, UPBIT, upbit_market, since, t0, t0)
        values["upbit_premium_dev"] = premium_deviation(bars, upbit, t0_ms)
    return Features(symbol, t0, values, bars)


def finite_or_none(v: float) -> float | None:
    """``v`` as a float, or ``None`` when it is NaN or infinite."""
    f = float(v)
    return f if math.isfinite(f) else None


def latest_bar(bars: BarWindow, t_ms: int) -> int | None:
    """Row of the latest non-gap bar with a close and ``ts`` in ``(t - MAX_BAR_AGE_S, t]``."""
    end = int(np.searchsorted(bars.ts, t_ms, side="right"))
    oldest = t_ms - MAX_BAR_AGE_S * 1000
    for i in range(end - 1, -1, -1):
        if bars.ts[i] <= oldest:
            return None
        if not bars.gap[i] and math.isfinite(bars.close[i]):
            return i
    return None


def momentum_z(bars: BarWindow, t0_ms: int, n: int, sigma: float | None) -> float | None:
    """``ln(close(t0) / close(t0 - n)) / (sigma_1s * sqrt(n))``; ``None`` without both closes or sigma."""
    now, then = latest_bar(bars, t0_ms), latest_bar(bars, t0_ms - n * 1000)
    if now is None or then is None or not sigma:
        return None
    return math.log(bars.close[now] / bars.close[then]) / (sigma * math.sqrt(n))


def premium_deviation(binance: BarWindow, upbit: BarWindow, t0_ms: int) -> float | None:
    """Latest ``ln(upbit / binance)`` minus its mean over the window (see the module docstring)."""
    ok_b = ~binance.gap & np.isfinite(binance.close)
    ok_u = ~upbit.gap & np.isfinite(upbit.close)
    common, ib, iu = np.intersect1d(binance.ts[ok_b], upbit.ts[ok_u], assume_unique=True, return_indices=True)
    if len(common) < PREMIUM_MIN_POINTS or common[-1] <= t0_ms - MAX_BAR_AGE_S * 1000:
        return None
    p = np.log(upbit.close[ok_u][iu] / binance.close[ok_b][ib])
    return float(p[-1] - p.mean())


_FUNDING = sql.SQL(
    "SELECT funding_rate FROM mark_price WHERE exchange = 'binance' AND symbol = %(symbol)s"
    " AND ts > %(since)s AND {pit} AND funding_rate IS NOT NULL ORDER BY ts DESC LIMIT 1"
).format(pit=usable_at())

_METRIC = sql.SQL(
    "SELECT value FROM metrics WHERE source = 'binance' AND symbol = %(symbol)s AND metric = %(metric)s"
    " AND ts > %(since)s AND ts <= %(until)s AND {pit} ORDER BY ts DESC LIMIT 1"
).format(pit=usable_at())

_LIQUIDATIONS = sql.SQL(
    "SELECT coalesce(sum(avg_price * qty) FILTER (WHERE side = 'SELL'), 0),"
    " coalesce(sum(avg_price * qty) FILTER (WHERE side = 'BUY'), 0)"
    " FROM liquidations WHERE exchange = 'binance' AND symbol = %(symbol)s AND ts > %(since)s AND {pit}"
).format(pit=usable_at())


def _scalar(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, object]) -> float | None:
    row = conn.execute(query, params).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _oi_change(conn: psycopg.Connection[Any], params: dict[str, object], t0: datetime) -> float | None:
    def oi(until: datetime) -> float | None:
        since = until - timedelta(seconds=OI_MAX_AGE_S)
        return _scalar(conn, _METRIC, {**params, "metric": "open_interest", "since": since, "until": until})

    now, then = oi(t0), oi(t0 - timedelta(seconds=OI_LAG_S))
    return None if now is None or then is None or then == 0 else now / then - 1
