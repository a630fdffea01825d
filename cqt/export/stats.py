"""Counts an export accumulates chunk by chunk, and the ``cqt`` metadata document built from them.

Realised volatility is measured on the 1 s log returns of consecutive non-gap Binance bars inside the
export range: ``sigma_1s`` is their RMS, ``horizon`` = ``sigma_1s * sqrt(H)`` (the move a label must beat,
compare with ``r_t``), ``period`` = ``sqrt(sum r^2)`` over the range and ``annualised`` =
``sigma_1s * sqrt(365 days)``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cqt import __version__
from cqt.export.labelling import DROP_REASONS
from cqt.export.spec import SCHEMA_VERSION, ExportParams, Source, feature_columns

YEAR_S = 365 * 86_400
LABEL_NAMES = {1: "UP", -1: "DOWN", 0: "NONE"}
VIOLATION = "label_ts_violation"


@dataclass
class ExportStats:
    """Running totals of one file (or of the whole export)."""

    horizon_s: int
    rows: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    nulls: Counter[str] = field(default_factory=Counter)
    bars: int = 0
    gap_bars: int = 0
    stale_bars: int = 0
    grid_times: int = 0
    grid_without_bar: int = 0
    sum_sq: float = 0.0
    returns: int = 0

    def add_labels(self, y: NDArray[np.int8]) -> None:
        self.rows += len(y)
        values, counts = np.unique(y, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            self.labels[LABEL_NAMES[int(v)]] += int(c)

    def add_returns(self, r: NDArray[np.float64]) -> None:
        self.sum_sq += float(np.dot(r, r))
        self.returns += len(r)

    def merge(self, other: ExportStats) -> None:
        for name in ("rows", "bars", "gap_bars", "stale_bars", "grid_times", "grid_without_bar", "returns"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sum_sq += other.sum_sq
        self.dropped.update(other.dropped)
        self.labels.update(other.labels)
        self.nulls.update(other.nulls)

    def distribution(self) -> dict[str, int]:
        return {name: self.labels.get(name, 0) for name in ("UP", "DOWN", "NONE")}

    def dropped_by_reason(self) -> dict[str, int]:
        return {reason: self.dropped.get(reason, 0) for reason in (*DROP_REASONS, VIOLATION)}

    def realised_vol(self) -> dict[str, float | int | None]:
        if self.returns == 0:
            return {"returns": 0, "sigma_1s": None, "horizon": None, "period": None, "annualised": None}
        sigma = math.sqrt(self.sum_sq / self.returns)
        return {
            "returns": self.returns,
            "sigma_1s": sigma,
            "horizon": sigma * math.sqrt(self.horizon_s),
            "period": math.sqrt(self.sum_sq),
            "annualised": sigma * math.sqrt(YEAR_S),
        }

    @property
    def stale_share(self) -> float | None:
        return self.stale_bars / self.bars if self.bars else None

    def quality(self, columns: list[str]) -> dict[str, object]:
        return {
            "bars": self.bars,
            "gap_bars": self.gap_bars,
            "stale_bars": self.stale_bars,
            "stale_share": self.stale_share,
            "grid_times": self.grid_times,
            "grid_without_bar": self.grid_without_bar,
            "null_share": {c: (self.nulls.get(c, 0) / self.rows if self.rows else None) for c in columns},
        }


def metadata(
    params: ExportParams, sources: list[Source], stats: ExportStats, created_at: str, **extra: object
) -> dict[str, object]:
    """The ``cqt`` document of the dataset contract (``extra``: e.g. the partition of this file)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "code_version": __version__,
        "created_at": created_at,
        "params": params.as_json(),
        "rows": stats.rows,
        "dropped": stats.dropped_by_reason(),
        "label_distribution": stats.distribution(),
        "quality": stats.quality(feature_columns(sources)),
        "realised_vol": stats.realised_vol(),
        "features": [spec for s in sources for spec in s.audit_specs()],
        **extra,
    }
