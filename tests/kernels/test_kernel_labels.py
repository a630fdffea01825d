"""Labels: Rust kernel vs the pure-Python reference, truncation invariance and coverage rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cqt.bars import Columns
from cqt.labels import DynamicThreshold, compute_labels
from tests.kernels.kernel_compare import same
from tests.kernels.kernel_reference import Bar, LabelSpec, reference_labels
from tests.kernels.kernel_strategies import bar_series

LABEL_FIELDS = ["valid", "y", "fwd_return", "r_t", "label_ts", "touch_ts", "ambiguous"]


@st.composite
def label_specs(draw: st.DrawFn) -> LabelSpec:
    r_min = draw(st.floats(0.0, 0.004))
    return LabelSpec(
        horizon_s=draw(st.integers(1, 8)),
        kind=draw(st.sampled_from(["fixed_horizon", "triple_barrier"])),
        r_fixed=draw(st.none() | st.floats(0.0005, 0.02)),
        window_s=draw(st.integers(1, 15)),
        min_returns=draw(st.integers(0, 8)),
        k=draw(st.floats(0.0, 3.0)),
        r_min=r_min,
        r_max=draw(st.floats(max(r_min, 0.001), 0.03)),
        cost_mult=draw(st.floats(0.0, 2.0)),
        fee=draw(st.floats(0.0, 0.001)),
        slippage=draw(st.floats(0.0, 0.001)),
        use_spread=draw(st.booleans()),
    )


def run(bars: list[Bar], spec: LabelSpec, threads: int = 1) -> Columns:
    threshold: float | DynamicThreshold = (
        spec.r_fixed
        if spec.r_fixed is not None
        else DynamicThreshold(
            window_s=spec.window_s,
            min_returns=spec.min_returns,
            k=spec.k,
            r_min=spec.r_min,
            r_max=spec.r_max,
            cost_mult=spec.cost_mult,
            fee=spec.fee,
            slippage=spec.slippage,
        )
    )
    return compute_labels(
        np.array([b.ts for b in bars], dtype=np.int64),
        np.array([b.close for b in bars]),
        np.array([b.high for b in bars]),
        np.array([b.low for b in bars]),
        symbol=np.array([b.symbol for b in bars], dtype=np.uint32),
        gap=np.array([b.gap for b in bars], dtype=np.bool_),
        spread_bps=np.array([b.spread_bps for b in bars]) if spec.use_spread else None,
        horizon_s=spec.horizon_s,
        kind="fixed_horizon" if spec.kind == "fixed_horizon" else "triple_barrier",
        threshold=threshold,
        threads=threads,
    )


@settings(max_examples=200, deadline=None)
@given(bar_series(), label_specs())
def test_labels_equal_reference(bars: list[Bar], spec: LabelSpec) -> None:
    got = run(bars, spec, threads=2)
    want = reference_labels(bars, spec)
    for i, row in enumerate(want):
        for f in LABEL_FIELDS:
            assert same(got[f][i].item(), row[f]), (i, f, got[f][i], row[f])


@settings(max_examples=100, deadline=None)
@given(bar_series(), label_specs(), st.data())
def test_r_t_is_invariant_to_deleting_later_rows(
    bars: list[Bar], spec: LabelSpec, data: st.DataObject
) -> None:
    full = run(bars, spec)["r_t"]
    cut = data.draw(st.integers(0, len(bars)))
    truncated = run(bars[:cut], spec)["r_t"]
    assert [x.hex() for x in truncated.tolist()] == [x.hex() for x in full[:cut].tolist()]


@settings(max_examples=100, deadline=None)
@given(bar_series(), label_specs())
def test_labelled_rows_have_full_gap_free_horizon(bars: list[Bar], spec: LabelSpec) -> None:
    got = run(bars, spec)
    present = {(b.symbol, b.ts): b.gap for b in bars}
    h_ms = spec.horizon_s * 1000
    for i, b in enumerate(bars):
        horizon = [present.get((b.symbol, b.ts + s * 1000)) for s in range(spec.horizon_s + 1)]
        covered = all(g is False for g in horizon)
        if got["valid"][i]:
            assert covered
            assert got["label_ts"][i] >= b.ts + h_ms
            assert b.ts < got["touch_ts"][i] <= b.ts + h_ms or got["touch_ts"][i] == -1
        elif not covered:
            assert got["label_ts"][i] == -1 and math.isnan(got["fwd_return"][i])


def flat_bars(n: int) -> list[Bar]:
    return [Bar(0, 1_000 * (s + 1), 100.0, 100.0, 100.0, False, 1.0) for s in range(n)]


def test_gap_in_horizon_removes_label_instead_of_none() -> None:
    spec = LabelSpec(horizon_s=3, kind="triple_barrier", r_fixed=0.01)
    bars = flat_bars(10)
    before = run(bars, spec)
    assert before["valid"][:7].all() and (before["y"][:7] == 0).all()
    bars[5] = Bar(0, 6000, 100.0, 100.0, 100.0, True, 1.0)
    after = run(bars, spec)
    # Rows 2..5 have the gap bar (row 5) in [t0, t0 + 3 s]; the others are unchanged.
    assert after["valid"].tolist() == [True, True, False, False, False, False, True, False, False, False]


def test_invalid_close_is_rejected_naming_the_row() -> None:
    bars = flat_bars(4)
    bars[2] = Bar(0, 3000, math.nan, 100.0, 100.0, False, 1.0)
    with pytest.raises(ValueError, match=r"^bars row 2: close = NaN"):
        run(bars, LabelSpec(horizon_s=1, kind="fixed_horizon", r_fixed=0.01))
