"""Leak-safe labels on one-second bars (docs/design.md §4) over the Rust core.

Exact rules are documented in ``core_rs/src/labels.rs``; in short:

* ``r_t`` is fixed, or ``min(r_max, max(r_min, cost_mult * cost_roundtrip, k * sigma_1s * sqrt(H)))``
  with ``sigma_1s`` the RMS of 1 s log returns whose both bars lie in ``(t0 - W, t0]`` and
  ``cost_roundtrip = 2 fee + 2 slippage + median(spread_bps) / 1e4`` over the same window.
* Fixed horizon compares ``close(t0 + H) / close(t0) - 1`` with ``±r_t``; triple barrier takes
  the first bar in ``(t0, t0 + H]`` whose high/low reaches ``close(t0) * (1 ± r_t)``; a bar
  reaching both is ``ambiguous`` and resolved UP if its close >= ``close(t0)``, else DOWN.
* A row gets a label (``valid``) only if every second of ``[t0, t0 + H]`` is present, none is a
  gap bar and ``r_t`` is finite; then ``label_ts = t0 + H``. Invalid rows have ``y = 0`` but
  must be masked with ``valid``: no label is never NONE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from numpy.typing import ArrayLike

from cqt import _core
from cqt.bars import Columns, f64, flags, i64, u32

UP = 1
DOWN = -1
NONE = 0

LabelKind = Literal["fixed_horizon", "triple_barrier"]


@dataclass(frozen=True)
class DynamicThreshold:
    """Parameters of the dynamic ``r_t``; fractions, not bps (``fee=0.0004`` is 4 bps)."""

    window_s: int = 600
    min_returns: int = 60
    k: float = 1.0
    r_min: float = 0.0005
    r_max: float = 0.05
    cost_mult: float = 1.0
    fee: float = 0.0004
    slippage: float = 0.0001


def compute_labels(
    ts: ArrayLike,
    close: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    *,
    symbol: ArrayLike | None = None,
    gap: ArrayLike | None = None,
    spread_bps: ArrayLike | None = None,
    horizon_s: int = 120,
    kind: LabelKind = "triple_barrier",
    threshold: float | DynamicThreshold | None = None,
    threads: int | None = None,
) -> Columns:
    """Labels for bars sorted by (symbol, ts), one output row per input row.

    ``threshold`` is a fixed ``r_t`` (float) or a :class:`DynamicThreshold` (default). Returns
    ``valid``, ``y``, ``fwd_return``, ``r_t``, ``label_ts``, ``touch_ts`` and ``ambiguous``.
    ``threads`` defaults to the CPU count; results do not depend on it.
    """
    dynamic = threshold if isinstance(threshold, DynamicThreshold) else DynamicThreshold()
    r_fixed = None if threshold is None or isinstance(threshold, DynamicThreshold) else float(threshold)
    return _core.compute_labels(
        i64(ts),
        f64(close),
        f64(high),
        f64(low),
        None if symbol is None else u32(symbol),
        None if gap is None else flags(gap),
        None if spread_bps is None else f64(spread_bps),
        horizon_s,
        kind,
        r_fixed,
        dynamic.window_s,
        dynamic.min_returns,
        dynamic.k,
        dynamic.r_min,
        dynamic.r_max,
        dynamic.cost_mult,
        dynamic.fee,
        dynamic.slippage,
        threads if threads is not None else os.cpu_count() or 1,
    )
