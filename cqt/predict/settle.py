"""Settle predictions after their horizon: the realised triple-barrier label and the scores.

A prediction at ``t0`` with horizon ``H`` is *judged* at ``now`` once the Binance bars usable at ``now``
(``ts <= now AND recv_ts <= now``) reach ``t0 + H``, or at the latest ``max_wait_s`` after ``t0 + H``.
It is labelled by the Rust kernel (``triple_barrier``, the prediction's stored ``r_t`` as the fixed
threshold, bars from ``t0`` on), so it matches the labels of the export exactly.

* Labelled: ``y``, ``fwd_return``, ``label_ts`` (= ``t0 + H``), ``touch_ts``, ``ambiguous``, ``brier``,
  ``log_loss`` and ``settled_at = now``.
* Not coverable (a gap bar or a missing second in ``[t0, t0 + H]``): never NONE. ``y`` and the
  outcome columns stay NULL, ``settled_at = now`` (so it is not retried forever), and the reason is
  merged into the ``features`` jsonb under ``"settle"``:
  ``{"status": "unlabelled", "expected_s": H + 1, "missing_s": m, "gap_bars": g}``. The table has no
  column for it; a ``settle_note`` column would be cleaner than sharing the features document.

Scores over the classes (UP, DOWN, NONE), ``o`` the one-hot outcome:
``brier = sum_k (p_k - o_k)^2`` (0 to 2) and ``log_loss = -ln(clip(p_y, EPS, 1 - EPS))``.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.labels import DOWN, NONE, UP, compute_labels
from cqt.predict.features import BINANCE
from cqt.predict.pit import BarWindow, load_bars, usable_at

log = logging.getLogger(__name__)

EPS = 1e-6
MAX_WAIT_S = 600


def brier(p_up: float, p_down: float, p_none: float, y: int) -> float:
    """Multi-class Brier score of the probabilities against outcome ``y``."""
    return sum((p - float(y == k)) ** 2 for p, k in ((p_up, UP), (p_down, DOWN), (p_none, NONE)))


def log_loss(p_up: float, p_down: float, p_none: float, y: int) -> float:
    """``-ln`` of the probability given to outcome ``y``, clipped to ``[EPS, 1 - EPS]``."""
    p = {UP: p_up, DOWN: p_down, NONE: p_none}[y]
    return -math.log(min(1.0 - EPS, max(EPS, p)))


_DUE = (
    "SELECT id, symbol, ts, horizon_s, r_t, p_up, p_down, p_none FROM predictions"
    " WHERE settled_at IS NULL AND ts <= %(asof)s AND ts + make_interval(secs => horizon_s) <= %(asof)s"
    " ORDER BY symbol, ts"
)

_LATEST_BAR = sql.SQL(
    "SELECT ts FROM market_1s WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND {pit}"
    " ORDER BY ts DESC LIMIT 1"
).format(pit=usable_at())

_LABEL = (
    "UPDATE predictions SET settled_at = %(now)s, y = %(y)s, fwd_return = %(fwd_return)s,"
    " label_ts = %(label_ts)s, touch_ts = %(touch_ts)s, ambiguous = %(ambiguous)s, brier = %(brier)s,"
    " log_loss = %(log_loss)s WHERE id = %(id)s AND settled_at IS NULL"
)

_UNLABELLED = (
    "UPDATE predictions SET settled_at = %(now)s, features = features || %(note)s"
    " WHERE id = %(id)s AND settled_at IS NULL"
)


def settle(conn: psycopg.Connection[Any], now: datetime, *, max_wait_s: int = MAX_WAIT_S) -> int:
    """Settle every judged prediction (module docstring); returns how many were settled, labelled or not."""
    due = conn.execute(_DUE, {"asof": now}).fetchall()
    by_symbol: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in due:
        by_symbol[row[1]].append(row)
    labelled: list[dict[str, object]] = []
    unlabelled: list[dict[str, object]] = []
    for symbol, preds in by_symbol.items():
        latest = conn.execute(_LATEST_BAR, {"exchange": BINANCE, "symbol": symbol, "asof": now}).fetchone()
        latest_ms = dt_to_ms(latest[0]) if latest else None
        first_t0 = min(p[2] for p in preds)
        last_end = max(p[2] + timedelta(seconds=p[3]) for p in preds)
        bars = load_bars(conn, BINANCE, symbol, first_t0 - timedelta(seconds=1), last_end, now)
        for pid, _, t0, horizon_s, r_t, p_up, p_down, p_none in preds:
            t0_ms, end_ms = dt_to_ms(t0), dt_to_ms(t0) + horizon_s * 1000
            reached = latest_ms is not None and latest_ms >= end_ms
            if not reached and now < ms_to_dt(end_ms + max_wait_s * 1000):
                continue
            lo = int(np.searchsorted(bars.ts, t0_ms, side="left"))
            horizon = bars.slice(lo, int(np.searchsorted(bars.ts, end_ms, side="right")))
            outcome = _label(horizon, t0_ms, horizon_s, r_t)
            if outcome is None:
                note = _coverage(horizon, horizon_s)
                log.info("prediction %s (%s at %s) not labelled: %s", pid, symbol, t0.isoformat(), note)
                unlabelled.append({"id": pid, "now": now, "note": Jsonb({"settle": note})})
                continue
            labelled.append(
                {
                    **asdict(outcome),
                    "id": pid,
                    "now": now,
                    "brier": brier(p_up, p_down, p_none, outcome.y),
                    "log_loss": log_loss(p_up, p_down, p_none, outcome.y),
                }
            )
    settled = 0
    with conn.transaction(), conn.cursor() as cur:
        for query, params in ((_LABEL, labelled), (_UNLABELLED, unlabelled)):
            if params:
                cur.executemany(query, params)
                settled += cur.rowcount
    return settled


@dataclass(frozen=True)
class Outcome:
    """The realised label of one prediction (the kernel's output on its ``t0`` row)."""

    y: int
    fwd_return: float
    label_ts: datetime
    touch_ts: datetime | None
    ambiguous: bool


def _label(horizon: BarWindow, t0_ms: int, horizon_s: int, r_t: float) -> Outcome | None:
    """The kernel's triple-barrier label on the ``t0`` row, ``None`` when the horizon is not covered."""
    if len(horizon) == 0 or horizon.ts[0] != t0_ms:
        return None
    out = compute_labels(
        horizon.ts,
        horizon.close,
        horizon.high,
        horizon.low,
        gap=horizon.gap,
        horizon_s=horizon_s,
        kind="triple_barrier",
        threshold=r_t,
        threads=1,
    )
    if not out["valid"][0]:
        return None
    touch = int(out["touch_ts"][0])
    return Outcome(
        y=int(out["y"][0]),
        fwd_return=float(out["fwd_return"][0]),
        label_ts=ms_to_dt(int(out["label_ts"][0])),
        touch_ts=ms_to_dt(touch) if touch >= 0 else None,
        ambiguous=bool(out["ambiguous"][0]),
    )


def _coverage(horizon: BarWindow, horizon_s: int) -> dict[str, object]:
    expected = horizon_s + 1
    return {
        "status": "unlabelled",
        "expected_s": expected,
        "missing_s": expected - len(horizon),
        "gap_bars": int(horizon.gap.sum()),
    }
