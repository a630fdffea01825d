"""Label study (ALT-7): the UP/DOWN/NONE distribution under several fixed ``r_t`` and the dynamic policy.

The bars are read once per chunk and labelled under every policy with the same kernel and decision times
as the export. An all-NONE distribution is a property of the period, not a failure: it happens when the
typical move over the horizon (``sigma_1s * sqrt(H)``) is well below ``r_t``, and :func:`explain` says so
with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

from cqt.collect.rows import ms_to_dt
from cqt.export.dataset import chunk_bounds, plan_export
from cqt.export.labelling import LabelBars, kind_of, label_at, log_returns, threshold_of
from cqt.export.pg_read import read_rows
from cqt.export.spec import BAR_MAX_AGE_S, LABEL_INPUTS, ExportParams, Source
from cqt.export.stats import LABEL_NAMES, ExportStats
from cqt.labels import DynamicThreshold

FIXED_R = (0.0005, 0.001, 0.002, 0.005)
_HINT = {
    "fixed": "A fixed r_t near the typical move, or the dynamic policy, labels moves.",
    "dynamic": "The dynamic r_t never goes below r_min and the round-trip cost (fees, slippage, spread), "
    "so in a quiet period no move pays for a trade: NONE is the right label.",
}


@dataclass
class PolicyResult:
    """Label counts and thresholds of one ``r_t`` policy."""

    policy: str
    counts: dict[str, int] = field(default_factory=lambda: {"UP": 0, "DOWN": 0, "NONE": 0})
    dropped: int = 0
    r_t: list[NDArray[np.float64]] = field(default_factory=list)
    fwd: list[NDArray[np.float64]] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return sum(self.counts.values())

    def share(self, name: str) -> float:
        return self.counts[name] / self.labelled if self.labelled else float("nan")

    def median_r(self) -> float:
        r = np.concatenate(self.r_t) if self.r_t else np.zeros(0)
        return float(np.median(r)) if len(r) else float("nan")

    def max_abs_fwd(self) -> float:
        f = np.concatenate(self.fwd) if self.fwd else np.zeros(0)
        return float(np.abs(f).max()) if len(f) else float("nan")


@dataclass
class Study:
    params: ExportParams
    results: list[PolicyResult]
    vol: ExportStats

    @property
    def sigma_h(self) -> float | None:
        h = self.vol.realised_vol()["horizon"]
        return None if h is None else float(h)


def label_study(
    conn: psycopg.Connection[Any],
    params: ExportParams,
    fixed: tuple[float, ...] = FIXED_R,
    chunk_s: int = 86_400,
) -> Study:
    """Label distributions of ``params``' range under ``fixed:<r>`` for each ``r`` and ``dynamic``."""
    plan = plan_export(conn, replace(params, r_policy="dynamic"))
    policies = [f"fixed:{r:g}" for r in fixed] + ["dynamic"]
    results = [PolicyResult(p) for p in policies]
    thresholds = [threshold_of(p) for p in policies]
    kind = kind_of(params.label)
    source = Source("market_1s", {"exchange": "binance", "symbol": params.symbol}, LABEL_INPUTS,
                    LABEL_INPUTS, BAR_MAX_AGE_S)  # fmt: skip
    vol = ExportStats(params.horizon_s)
    lookback_ms = (DynamicThreshold().window_s + 1) * 1000
    step = params.every_s * 1000
    for lo_ms, hi_ms in chunk_bounds(params.start, params.end, chunk_s):
        rows = read_rows(
            conn, source, ms_to_dt(lo_ms - lookback_ms), ms_to_dt(hi_ms + params.horizon_s * 1000)
        )
        ts_ms = rows.ts // 1000
        bars = LabelBars.from_columns(ts_ms, rows.values)
        vol.add_returns(log_returns(bars, lo_ms, hi_ms))
        t0 = ts_ms[(ts_ms >= lo_ms) & (ts_ms < hi_ms) & (ts_ms % step == 0)]
        for result, threshold in zip(results, thresholds, strict=True):
            out, valid, dropped = label_at(bars, t0, horizon_s=params.horizon_s, kind=kind, threshold=threshold,
                                           last_bar_ms=plan.last_bar_ms)  # fmt: skip
            result.dropped += sum(dropped.values())
            for y, name in LABEL_NAMES.items():
                result.counts[name] += int((valid & (out["y"] == y)).sum())
            result.r_t.append(out["r_t"][valid].astype(np.float64))
            result.fwd.append(out["fwd_return"][valid].astype(np.float64))
    return Study(params, results, vol)


def table_lines(study: Study) -> list[str]:
    """The distribution table, one line per policy."""
    lines = [
        f"{'policy':<14} {'r_t (median)':>12} {'UP':>8} {'DOWN':>8} {'NONE':>8} {'NONE %':>7} {'dropped':>8}"
    ]
    for r in study.results:
        lines.append(
            f"{r.policy:<14} {r.median_r():>12.6f} {r.counts['UP']:>8} {r.counts['DOWN']:>8} {r.counts['NONE']:>8}"
            f" {100 * r.share('NONE'):>6.1f}% {r.dropped:>8}"
        )
    return lines


def explain(study: Study) -> list[str]:
    """Why a policy labelled everything NONE (not an error), with the volatility against its ``r_t``."""
    lines = []
    sigma_h = study.sigma_h
    for r in study.results:
        if r.labelled == 0 or r.counts["NONE"] < r.labelled:
            continue
        move = "unknown (no 1 s returns)" if sigma_h is None else f"{100 * sigma_h:.4f} %"
        ratio = "" if not sigma_h else f", {r.median_r() / sigma_h:.1f}x the typical move"
        lines.append(
            f"all NONE under {r.policy}: {r.labelled} of {r.labelled} labels. Not an error: the period's typical move over "
            f"H = {study.params.horizon_s} s (sigma_1s * sqrt(H)) is {move}, the median r_t is "
            f"{100 * r.median_r():.4f} %{ratio}, and the largest |return| over H was "
            f"{100 * r.max_abs_fwd():.4f} %. {_HINT['dynamic' if r.policy == 'dynamic' else 'fixed']}"
        )
    return lines


def plot(study: Study, path: Path) -> None:
    """Stacked UP/DOWN/NONE shares per policy as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.policy for r in study.results]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    bottom = np.zeros(len(names))
    for label, color in (("UP", "#2a9d8f"), ("DOWN", "#e76f51"), ("NONE", "#adb5bd")):
        share = np.array([0.0 if r.labelled == 0 else r.share(label) for r in study.results])
        ax.bar(names, share, bottom=bottom, label=label, color=color)
        bottom += share
    p = study.params
    ax.set_ylabel("share of labelled decision times")
    ax.set_title(
        f"{p.symbol} {p.label} labels, H = {p.horizon_s} s, {p.start:%Y-%m-%d %H:%M} to {p.end:%Y-%m-%d %H:%M} UTC"
    )
    ax.legend(loc="upper right")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
