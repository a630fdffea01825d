"""Vectorised point-in-time as-of join: the contract's ``latest_usable`` rule for many ``t0`` at once.

A row is usable at ``t0`` from ``u = max(ts, recv_ts)`` on. Among the rows usable at ``t0`` the rule picks
the greatest ``ts``, which is *not* necessarily the row with the greatest ``u``: a backfilled row (old
``ts``, late ``recv_ts``) becomes usable after newer rows. So rows are sorted by ``u`` and a running
arg-max of ``ts`` over that order gives, for every prefix, the row the rule selects; a binary search of
each ``t0`` in ``u`` then picks the prefix. ``O((n + m) log n)`` for ``n`` rows and ``m`` decision times.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


def latest_usable(ts: I64, recv_ts: I64, t0: I64, max_age: int | None) -> I64:
    """Index (into the given rows) of the row selected at each ``t0``, ``-1`` when none.

    ``ts`` must be unique (every table's key makes it so within one source); all times in one unit;
    ``max_age`` in that unit keeps only rows with ``ts > t0 - max_age``.
    """
    n = len(ts)
    if n == 0:
        return np.full(len(t0), -1, dtype=np.int64)
    usable_from = np.maximum(ts, recv_ts)
    order = np.argsort(usable_from, kind="stable")
    u = usable_from[order]
    ts_by_u = ts[order]
    record = ts_by_u == np.maximum.accumulate(ts_by_u)
    best = np.maximum.accumulate(np.where(record, np.arange(n), 0))
    k = np.searchsorted(u, t0, side="right") - 1
    found = k >= 0
    idx = np.where(found, order[best[np.maximum(k, 0)]], -1)
    if max_age is not None:
        idx[found & (ts[np.maximum(idx, 0)] <= t0 - max_age)] = -1
    return idx


def gather(values: NDArray[np.float64], idx: I64) -> NDArray[np.float64]:
    """``values[idx]`` with NaN where ``idx`` is ``-1``."""
    if len(values) == 0:
        return np.full(len(idx), np.nan)
    out = values[np.maximum(idx, 0)]
    out[idx < 0] = np.nan
    return out
