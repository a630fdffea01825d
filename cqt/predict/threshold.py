"""``r_t``, ``sigma_1s`` and ``cost_roundtrip`` at a decision time, all read from the Rust label kernel.

The kernel does not return the ingredients of its dynamic threshold, but each one is a dynamic threshold
with the other terms switched off: with ``k = 1, cost_mult = 0, r_min = 0`` and ``H = 1`` the threshold
is ``sigma_1s``; with ``k = 0, cost_mult = 1, r_min = 0`` it is ``cost_roundtrip``. So the predictor,
the labels and the export share one implementation of the window rules instead of a Python twin.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from cqt.labels import DynamicThreshold, compute_labels
from cqt.predict.pit import BarWindow

# An r_max that never binds, for reading the uncapped ingredients.
_UNCAPPED = 1e9


def kernel_r_t(
    bars: BarWindow, t0_ms: int, horizon_s: int, threshold: DynamicThreshold, *, with_spread: bool = True
) -> float | None:
    """The kernel's dynamic ``r_t`` on the row ``t0`` over the bars of ``bars`` with ``ts <= t0``.

    When the bar ending at ``t0`` is not among them (not yet received at ``t0``), a gap-flagged marker
    row is placed at ``t0`` so the kernel's window is exactly ``(t0 - W, t0]``: a gap row adds no
    return and no spread. ``None`` when the kernel has no threshold (too few returns, no spread).
    """
    past = bars.upto(t0_ms)
    ts, close, high, low = past.ts, past.close, past.high, past.low
    spread, gap = past.spread_bps, past.gap
    if len(ts) == 0 or ts[-1] != t0_ms:
        ts = np.append(ts, np.int64(t0_ms))
        close, high, low, spread = (np.append(a, np.nan) for a in (close, high, low, spread))
        gap = np.append(gap, True)
    labels = compute_labels(
        ts,
        close,
        high,
        low,
        gap=gap,
        spread_bps=spread if with_spread else None,
        horizon_s=horizon_s,
        kind="fixed_horizon",
        threshold=threshold,
        threads=1,
    )
    r = float(labels["r_t"][-1])
    return r if math.isfinite(r) else None


def sigma_1s(bars: BarWindow, t0_ms: int, threshold: DynamicThreshold) -> float | None:
    """RMS of the 1 s log returns in ``(t0 - W, t0]`` (the kernel's ``sigma_1s``)."""
    only_vol = replace(threshold, k=1.0, r_min=0.0, cost_mult=0.0, r_max=_UNCAPPED)
    return kernel_r_t(bars, t0_ms, 1, only_vol, with_spread=False)


def cost_roundtrip(bars: BarWindow, t0_ms: int, threshold: DynamicThreshold) -> float | None:
    """``2 fee + 2 slippage + median spread`` over ``(t0 - W, t0]`` (the kernel's ``cost_roundtrip``)."""
    only_cost = replace(threshold, k=0.0, r_min=0.0, cost_mult=1.0, r_max=_UNCAPPED)
    return kernel_r_t(bars, t0_ms, 1, only_cost)
