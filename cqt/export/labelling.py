"""Labels of the decision times of one chunk from the Rust kernel, and why a row has none.

The kernel labels every Binance bar (docs/design.md §4); a decision time takes its own bar's label. A label
needs every second of ``[t0, t0 + H]`` as a priced non-gap bar and a finite ``r_t``; otherwise the row is
dropped, counted under the first reason that applies:

* ``end_of_data``: ``t0 + H`` is after the last stored Binance bar,
* ``gap``: a gap bar in ``[t0, t0 + H]``,
* ``missing_bars``: a second of ``[t0, t0 + H]`` has no priced bar,
* ``no_threshold``: the dynamic ``r_t`` has too little history (fewer than ``min_returns`` returns or no
  spread in ``(t0 - W, t0]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cqt.bars import Columns
from cqt.labels import DynamicThreshold, LabelKind, compute_labels

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

DROP_REASONS = ("end_of_data", "gap", "missing_bars", "no_threshold")


@dataclass(frozen=True)
class LabelBars:
    """Binance bars as the label kernel sees them: priced bars and gap bars, sorted by ``ts`` (ms)."""

    ts: I64
    close: F64
    high: F64
    low: F64
    spread_bps: F64
    gap: NDArray[np.bool_]

    @staticmethod
    def from_columns(ts_ms: I64, v: dict[str, F64]) -> LabelBars:
        """Rows with a close, high and low, or flagged gap (an unpriced bar reads as a missing second)."""
        gap = v["gap"] > 0
        keep = gap | (np.isfinite(v["close"]) & np.isfinite(v["high"]) & np.isfinite(v["low"]))
        return LabelBars(
            ts_ms[keep], v["close"][keep], v["high"][keep], v["low"][keep], v["spread_bps"][keep], gap[keep]
        )


def threshold_of(r_policy: str) -> float | DynamicThreshold:
    """``fixed:<r>`` -> the fraction ``r``; ``dynamic`` -> the default :class:`DynamicThreshold`."""
    if r_policy == "dynamic":
        return DynamicThreshold()
    kind, _, value = r_policy.partition(":")
    try:
        r = float(value)
    except ValueError:
        r = float("nan")
    if kind != "fixed" or not r > 0:
        raise ValueError(
            f"r policy must be 'dynamic' or 'fixed:<r>' with r > 0 (e.g. fixed:0.002), got {r_policy!r}"
        )
    return r


def kind_of(label: str) -> LabelKind:
    if label not in ("fixed", "triple"):
        raise ValueError(f"label must be 'fixed' or 'triple', got {label!r}")
    return "fixed_horizon" if label == "fixed" else "triple_barrier"


def label_at(
    bars: LabelBars,
    t0_ms: I64,
    *,
    horizon_s: int,
    kind: LabelKind,
    threshold: float | DynamicThreshold,
    last_bar_ms: int,
) -> tuple[Columns, NDArray[np.bool_], dict[str, int]]:
    """Kernel outputs at each ``t0`` (rows of the kernel output), the valid mask, drop counts by reason."""
    out = compute_labels(
        bars.ts,
        bars.close,
        bars.high,
        bars.low,
        gap=bars.gap,
        spread_bps=bars.spread_bps,
        horizon_s=horizon_s,
        kind=kind,
        threshold=threshold,
    )
    # One padding row (valid = False) stands for every t0 without a bar of its own.
    padded = {k: np.concatenate((v, np.zeros(1, dtype=v.dtype))) for k, v in out.items()}
    pos = np.searchsorted(bars.ts, t0_ms)
    has_bar = pos < len(bars.ts)
    has_bar[has_bar] = bars.ts[pos[has_bar]] == t0_ms[has_bar]
    picked = {k: v[np.where(has_bar, pos, len(bars.ts))] for k, v in padded.items()}
    valid = has_bar & picked["valid"].astype(bool)
    end_ms = t0_ms + horizon_s * 1000
    lo, hi = pos, np.searchsorted(bars.ts, end_ms, side="right")
    gap_cum = np.concatenate(([0], np.cumsum(bars.gap)))
    has_gap = gap_cum[hi] - gap_cum[lo] > 0
    priced = (hi - lo) - (gap_cum[hi] - gap_cum[lo])
    reasons = {
        "end_of_data": end_ms > last_bar_ms,
        "gap": has_gap,
        "missing_bars": priced < horizon_s + 1,
    }
    left = ~valid
    dropped: dict[str, int] = {}
    for reason in DROP_REASONS:
        hit = left & reasons[reason] if reason in reasons else left
        dropped[reason] = int(hit.sum())
        left &= ~hit
    return picked, valid, dropped


def log_returns(bars: LabelBars, lo_ms: int, hi_ms: int) -> F64:
    """1 s log returns of consecutive priced non-gap bars whose later bar ends in ``[lo_ms, hi_ms)``."""
    ok = ~bars.gap
    consecutive = (np.diff(bars.ts) == 1000) & ok[1:] & ok[:-1]
    later = bars.ts[1:]
    sel = consecutive & (later >= lo_ms) & (later < hi_ms)
    return np.asarray(np.log(bars.close[1:][sel] / bars.close[:-1][sel]), dtype=np.float64)
