"""Reliability of the three-way forecasts: for each outcome, predictions grouped by their probability
into equal-width bins, the mean predicted probability against the observed frequency of the outcome.
A calibrated model's points lie on the diagonal."""

from __future__ import annotations

import polars as pl

# outcome name -> (probability column, value of y)
OUTCOMES = {"UP": ("p_up", 1), "DOWN": ("p_down", -1), "NONE": ("p_none", 0)}


def reliability(settled: pl.DataFrame, bins: int = 10) -> pl.DataFrame:
    """Rows (outcome, bin, predicted, observed, n) from columns p_up, p_down, p_none and y (1, -1, 0).

    Bin i holds probabilities in [i / bins, (i + 1) / bins); a probability of exactly 1 joins the last bin.
    """
    parts = [
        settled.select(
            pl.lit(name).alias("outcome"),
            (pl.col(column) * bins).floor().clip(0, bins - 1).cast(pl.Int32).alias("bin"),
            pl.col(column).cast(pl.Float64).alias("p"),
            (pl.col("y") == y).cast(pl.Float64).alias("hit"),
        )
        for name, (column, y) in OUTCOMES.items()
    ]
    return (
        pl.concat(parts)
        .group_by("outcome", "bin")
        .agg(predicted=pl.col("p").mean(), observed=pl.col("hit").mean(), n=pl.len())
        .sort("outcome", "bin")
    )
