"""Labels: how the last hour of Binance bars would be labelled with a fixed ``r_t`` and with the dynamic
``r_t`` of docs/design.md §4, from the Rust kernel the export and the settler use (cached for a minute)."""

from __future__ import annotations

import altair as alt
import numpy as np
import polars as pl
import streamlit as st
from numpy.typing import NDArray

from cqt.bars import Columns
from cqt.bot.daemon import BotOptions
from cqt.dashboard import queries as q
from cqt.dashboard.calibration import OUTCOMES
from cqt.dashboard.ui import Selection, first, guarded, missing, num, time_chart, utc
from cqt.labels import DynamicThreshold, LabelKind, compute_labels

SPAN_S = 3_600
LABEL_TTL_S = 60
NO_LABEL = "no label"
NAMES = {y: name for name, (_, y) in OUTCOMES.items()}


def _body(sel: Selection) -> None:
    context = first(q.latest_horizon(sel.symbol))
    source = str(context["source"]) if context and context["source"] else "live"
    run_opts = BotOptions(source=source)
    horizon_default = int(str(context["horizon_s"])) if context and context["horizon_s"] else run_opts.horizon
    c1, c2, c3 = st.columns(3)
    horizon = int(c1.number_input("Horizon H (s)", min_value=1, max_value=3_600, value=horizon_default))
    fixed_bps = float(
        c2.number_input("Fixed r_t (bps)", min_value=0.1, max_value=1_000.0, value=10.0, step=1.0)
    )
    kind: LabelKind = (
        "triple_barrier"
        if c3.selectbox("Kind", ["triple barrier", "fixed horizon"]) == "triple barrier"
        else "fixed_horizon"
    )

    labels = _labels(sel.symbol, horizon, fixed_bps / 1e4, kind, source)
    if labels.height == 0:
        missing(f"No Binance bars for {sel.symbol} yet.")
        return
    thr = run_opts.threshold
    st.caption(
        f"{labels.height:,} bars from {utc(labels['ts'][0])} to {utc(labels['ts'][-1])} (the last hour of data). "
        f"Dynamic r_t = clip(max(r_min {thr.r_min * 1e4:g} bps, {thr.cost_mult:g} × round-trip cost), "
        f"k {thr.k:g} × sigma_1s × sqrt(H), r_max {thr.r_max * 1e4:g} bps) over the past {thr.window_s} s "
        f"(at least {thr.min_returns} returns; the {source} run's settings). A row whose horizon is not fully "
        "covered by bars gets no label, never NONE."
    )
    mix = _distribution(labels)
    cols = st.columns(3)
    cols[0].metric("Bars", f"{labels.height:,}")
    cols[1].metric("Labelled, fixed r_t", f"{int(labels['fixed'].is_in(list(NAMES.values())).sum()):,}")
    cols[2].metric("Labelled, dynamic r_t", f"{int(labels['dynamic'].is_in(list(NAMES.values())).sum()):,}")
    st.subheader("Label distribution: fixed vs dynamic r_t")
    st.table(mix)

    left, right = st.columns(2)
    over_time = (
        labels.unpivot(index="ts", on=["fixed", "dynamic"], variable_name="threshold", value_name="label")
        .with_columns(minute=pl.col("ts").dt.truncate("1m"))
        .group_by("minute", "threshold", "label")
        .agg(n=pl.len())
    )
    left.altair_chart(
        alt.Chart(over_time, title="Labels per minute (UTC)")
        .mark_bar()
        .encode(
            x=alt.X(
                "minute:T", title="minute (UTC)", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%H:%M")
            ),
            y=alt.Y("n:Q", title="bars"),
            color=alt.Color("label:N", legend=alt.Legend(orient="bottom")),
            row=alt.Row("threshold:N", title=None),
        )
        .properties(height=140)
    )
    r_t = labels.select(
        "ts", pl.lit(fixed_bps).alias("fixed r_t"), (pl.col("r_dynamic") * 1e4).alias("dynamic r_t")
    )
    right.altair_chart(time_chart(r_t, ["fixed r_t", "dynamic r_t"], "r_t over time", "bps", fmt=".2f"))
    dyn = labels["r_dynamic"].to_numpy()
    dyn = dyn[np.isfinite(dyn)] * 1e4
    if dyn.size:
        right.caption(
            f"dynamic r_t: median {num(float(np.median(dyn)))} bps, "
            f"range {num(float(dyn.min()))}–{num(float(dyn.max()))} bps"
        )
    else:
        right.caption(f"no dynamic r_t yet: it needs {thr.min_returns} one-second returns in its window")


@st.cache_data(ttl=LABEL_TTL_S, show_spinner="labelling the last hour …")
def _labels(symbol: str, horizon_s: int, fixed_r: float, kind: LabelKind, source: str) -> pl.DataFrame:
    """Per bar: the label with the fixed and with the dynamic r_t (or "no label") and the dynamic r_t."""
    bars = q.label_bars(symbol, SPAN_S)
    if bars.height == 0:
        return pl.DataFrame()
    ts = bars["ts"].dt.epoch("ms").to_numpy()
    prices = {
        c: bars[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in ("close", "high", "low", "spread_bps")
    }

    def run(threshold: float | DynamicThreshold) -> Columns:
        return compute_labels(
            ts, prices["close"], prices["high"], prices["low"], gap=bars["gap"].to_numpy(),
            spread_bps=prices["spread_bps"], horizon_s=horizon_s, kind=kind, threshold=threshold, threads=1,
        )  # fmt: skip

    fixed, dynamic = run(fixed_r), run(BotOptions(source=source).threshold)
    return pl.DataFrame(
        {
            "ts": bars["ts"],
            "fixed": _names(fixed["y"], fixed["valid"]),
            "dynamic": _names(dynamic["y"], dynamic["valid"]),
            "r_dynamic": dynamic["r_t"].astype(np.float64),
        }
    )


def _names(y: NDArray[np.generic], valid: NDArray[np.generic]) -> list[str]:
    return [NAMES[int(v)] if ok else NO_LABEL for v, ok in zip(y.tolist(), valid.tolist(), strict=True)]


def _distribution(labels: pl.DataFrame) -> pl.DataFrame:
    order = [*NAMES.values(), NO_LABEL]
    rows = []
    for label in order:
        row: dict[str, str] = {"label": label}
        for column in ("fixed", "dynamic"):
            n = int((labels[column] == label).sum())
            row[f"{column} r_t"] = f"{n:,} ({n / labels.height:.1%})"
        rows.append(row)
    return pl.DataFrame(rows)


page = guarded("Labels", _body)
