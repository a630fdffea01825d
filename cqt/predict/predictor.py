"""Run the baseline at decision times and store the predictions.

Decision times ``t0`` are bar ends on a ``every_s`` grid (:func:`decision_times`). For each symbol,
:func:`predict_at` reads :func:`~cqt.predict.features.pit_features` at ``t0``, takes ``r_t`` from the
label kernel on the ``t0`` row of that window (:func:`~cqt.predict.threshold.kernel_r_t`) and applies
:func:`~cqt.predict.baseline.baseline`. A symbol without ``r_t``, ``sigma_1s`` or ``cost_roundtrip``
at ``t0`` (too few usable bars, no book) gets no prediction; the reason is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.labels import DynamicThreshold
from cqt.predict.baseline import MODEL, Action, baseline
from cqt.predict.features import pit_features, upbit_market_for
from cqt.predict.threshold import kernel_r_t

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One row of ``predictions`` (without the outcome columns the settler fills).

    ``features`` holds the feature values the model saw plus its ``score``, ``ev_long`` and ``ev_short``.
    """

    symbol: str
    ts: datetime
    created_at: datetime
    model: str
    horizon_s: int
    r_t: float
    p_up: float
    p_down: float
    p_none: float
    expected_value: float
    action: Action
    features: dict[str, float | None]


def decision_times(
    latest_bar_ts: datetime, every_s: int = 5, *, after: datetime | None = None
) -> list[datetime]:
    """Grid bar ends ``<= latest_bar_ts`` (multiples of ``every_s`` s since the epoch), ascending.

    Without ``after`` only the latest one; with it, every grid time in ``(after, latest_bar_ts]`` so a
    caller that fell behind catches up without skipping a decision.
    """
    step = every_s * 1000
    last = dt_to_ms(latest_bar_ts) // step * step
    first = last if after is None else (dt_to_ms(after) // step + 1) * step
    return [ms_to_dt(t) for t in range(first, last + 1, step)]


def predict_at(
    conn: psycopg.Connection[Any],
    symbol: str,
    t0: datetime,
    *,
    horizon_s: int = 120,
    model: str = MODEL,
    threshold: DynamicThreshold | None = None,
    upbit_market: str | None = None,
) -> Prediction | None:
    """The prediction for ``symbol`` at ``t0``, or ``None`` when its inputs are missing."""
    if model != MODEL:
        raise ValueError(f"unknown model {model!r}; this module implements {MODEL!r}")
    thr = threshold or DynamicThreshold()
    feats = pit_features(conn, symbol, t0, upbit_market=upbit_market, threshold=thr)
    r_t = kernel_r_t(feats.bars, dt_to_ms(t0), horizon_s, thr)
    sigma, cost = feats.values["sigma_1s"], feats.values["cost_roundtrip"]
    if r_t is None or sigma is None or cost is None or feats.values["close"] is None:
        missing = [k for k, v in (("r_t", r_t), ("sigma_1s", sigma), ("cost_roundtrip", cost)) if v is None]
        log.info("no prediction for %s at %s: missing %s", symbol, t0.isoformat(), missing or ["fresh bar"])
        return None
    out = baseline(feats.values, r_t=r_t, sigma_1s=sigma, cost_roundtrip=cost, horizon_s=horizon_s)
    return Prediction(
        symbol=symbol,
        ts=t0,
        created_at=datetime.now(UTC),
        model=model,
        horizon_s=horizon_s,
        r_t=r_t,
        p_up=out.p_up,
        p_down=out.p_down,
        p_none=out.p_none,
        expected_value=out.expected_value,
        action=out.action,
        features={**feats.values, "score": out.score, "ev_long": out.ev_long, "ev_short": out.ev_short},
    )


def predict(
    conn: psycopg.Connection[Any],
    symbols: Sequence[str],
    t0: datetime,
    *,
    horizon_s: int = 120,
    model: str = MODEL,
    threshold: DynamicThreshold | None = None,
    upbit_markets: Mapping[str, str] | None = None,
) -> list[Prediction]:
    """Predictions at ``t0`` for every symbol that has its inputs.

    ``upbit_markets`` maps a Binance symbol to its Upbit market; by default ``BTCUSDT -> KRW-BTC``.
    """
    rows = []
    for symbol in symbols:
        upbit = upbit_market_for(symbol) if upbit_markets is None else upbit_markets.get(symbol)
        p = predict_at(
            conn, symbol, t0, horizon_s=horizon_s, model=model, threshold=threshold, upbit_market=upbit
        )
        if p is not None:
            rows.append(p)
    return rows


_INSERT = (
    "INSERT INTO predictions (symbol, ts, created_at, model, horizon_s, r_t, p_up, p_down, p_none,"
    " expected_value, action, features) VALUES (%(symbol)s, %(ts)s, %(created_at)s, %(model)s,"
    " %(horizon_s)s, %(r_t)s, %(p_up)s, %(p_down)s, %(p_none)s, %(expected_value)s, %(action)s, %(features)s)"
    " ON CONFLICT (symbol, ts, model, horizon_s) DO NOTHING"
)


# PostgreSQL's jsonb has no NaN or infinity: a non-finite value from a source table is stored as null.
def _jsonable(v: float | None) -> float | None:
    return v if v is None or math.isfinite(v) else None


def write_predictions(conn: psycopg.Connection[Any], predictions: Sequence[Prediction]) -> int:
    """INSERT the rows (an existing (symbol, ts, model, horizon_s) is kept); returns how many were new."""
    if not predictions:
        return 0
    params = []
    for p in predictions:
        row = asdict(p)
        row["features"] = Jsonb({k: _jsonable(v) for k, v in p.features.items()})
        params.append(row)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_INSERT, params)
        return cur.rowcount
