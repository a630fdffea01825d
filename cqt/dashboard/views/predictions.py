"""Predictions: the newest forecasts, settled outcomes, Brier score and log loss, and calibration."""

from __future__ import annotations

import math

import altair as alt
import polars as pl
import streamlit as st

from cqt.dashboard import queries as q
from cqt.dashboard.calibration import OUTCOMES, reliability
from cqt.dashboard.ui import Selection, first, guarded, missing, num, sig, time_chart, utc

# Scores of the uninformed forecast (1/3 each) for three outcomes: Brier 2/3, log loss ln 3.
UNIFORM_BRIER = 2 / 3
UNIFORM_LOG_LOSS = math.log(3)
OUTCOME_NAME = {y: name for name, (_, y) in OUTCOMES.items()}


def _body(sel: Selection) -> None:
    latest = q.latest_predictions(sel.symbol)
    if latest.height == 0:
        missing(f"No predictions for {sel.symbol} yet: the bot predicts every 5 s once it has bars.")
        return
    summary = first(q.prediction_summary(sel.symbol, sel.window_s))
    assert summary is not None  # an aggregate always returns one row
    cols = st.columns(4)
    cols[0].metric(f"Predictions ({sel.window_label})", num(summary["made"], 0))
    cols[1].metric("Settled with a label", f"{num(summary['labelled'], 0)} of {num(summary['settled'], 0)}")
    cols[2].metric(
        "Mean Brier score",
        sig(summary["brier"]),
        help=f"lower is better; 1/3 each scores {UNIFORM_BRIER:.4f}",
    )
    cols[3].metric(
        "Mean log loss",
        sig(summary["log_loss"]),
        help=f"lower is better; 1/3 each scores {UNIFORM_LOG_LOSS:.4f}",
    )

    st.subheader("Latest predictions")
    st.dataframe(
        latest.with_columns(
            pl.col("ts", "settled_at").map_elements(utc, return_dtype=pl.String),
            pl.col("y")
            .cast(pl.Int64)
            .replace_strict(OUTCOME_NAME, default=None, return_dtype=pl.String)
            .alias("outcome"),
        ).drop("y"),
        hide_index=True,
    )

    done = q.settled(sel.symbol, sel.window_s)
    st.subheader(f"Settled outcomes (last {sel.window_label})")
    if done.height == 0:
        st.info(
            f"No prediction in the window has settled yet: a prediction settles {latest['horizon_s'][0]} s "
            "after its decision time, when every bar of its horizon is stored."
        )
        return
    outcomes = (
        done.group_by("y")
        .agg(n=pl.len(), mean_brier=pl.col("brier").mean(), mean_log_loss=pl.col("log_loss").mean())
        .with_columns(outcome=pl.col("y").replace_strict(OUTCOME_NAME, return_dtype=pl.String))
        .sort("y", descending=True)
    )
    st.table(
        outcomes.select(
            "outcome",
            "n",
            pl.col("mean_brier").map_elements(sig, return_dtype=pl.String).alias("mean Brier"),
            pl.col("mean_log_loss").map_elements(sig, return_dtype=pl.String).alias("mean log loss"),
        )
    )
    left, right = st.columns(2)
    left.altair_chart(
        time_chart(done, ["brier", "log_loss"], "Scores of settled predictions", "score", fmt=".3g")
    )
    right.altair_chart(_calibration_chart(reliability(done)))
    right.caption("Mean predicted probability per 0.1-wide bin against how often that outcome happened.")


def _calibration_chart(rel: pl.DataFrame) -> alt.LayerChart | alt.FacetChart:
    axis = alt.Scale(domain=[0, 1])
    diagonal = (
        alt.Chart(pl.DataFrame({"predicted": [0.0, 1.0], "observed": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x=alt.X("predicted:Q", scale=axis), y=alt.Y("observed:Q", scale=axis))
    )
    points = (
        alt.Chart(rel)
        .mark_line(point=True)
        .encode(
            x=alt.X("predicted:Q", title="mean predicted probability", scale=axis),
            y=alt.Y("observed:Q", title="observed frequency", scale=axis),
            color=alt.Color("outcome:N", legend=alt.Legend(orient="bottom")),
            size=alt.Size("n:Q", legend=None),
            tooltip=[
                "outcome",
                "bin",
                alt.Tooltip("predicted:Q", format=".3f"),
                alt.Tooltip("observed:Q", format=".3f"),
                "n",
            ],
        )
    )
    return alt.layer(diagonal, points, title="Calibration")


page = guarded("Predictions", _body)
