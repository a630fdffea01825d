"""Batch bars: Rust kernel vs the pure-Python reference and vs polars group_by_dynamic."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cqt.bars import Columns, to_frame, trade_bars
from tests.kernels.kernel_compare import (
    FLAG_FIELDS,
    QUOTE_FIELDS,
    TRADE_FIELDS,
    assert_rows_equal,
    gap_arrays,
    quote_arrays,
    rows_of,
    trade_arrays,
)
from tests.kernels.kernel_reference import Gap, Quote, Trade, reference_bars
from tests.kernels.kernel_strategies import BASE_MS, quote_lists, trade_lists

gap_lists = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 25_000), st.integers(1, 4000)).map(
        lambda g: (g[0], BASE_MS + g[1], BASE_MS + g[1] + g[2])
    ),
    max_size=3,
)


def run(trades: list[Trade], quotes: list[Quote] | None = None, gaps: list[Gap] | None = None) -> Columns:
    a = trade_arrays(trades)
    return trade_bars(
        a["ts"],
        a["price"],
        a["qty"],
        a["taker_buy"],
        symbol=a["symbol"],
        quotes=None if quotes is None else quote_arrays(quotes),
        gaps=None if gaps is None else gap_arrays(gaps),
    )


@settings(max_examples=150, deadline=None)
@given(trade_lists(), gap_lists)
def test_trade_bars_equal_reference(trades: list[Trade], gaps: list[Gap]) -> None:
    got = rows_of(run(trades, gaps=gaps))
    assert_rows_equal(got, reference_bars(trades, gaps=gaps), TRADE_FIELDS + FLAG_FIELDS)


@settings(max_examples=100, deadline=None)
@given(trade_lists(), quote_lists())
def test_quote_bars_merge_with_trade_bars(trades: list[Trade], quotes: list[Quote]) -> None:
    got = rows_of(run(trades, quotes=quotes))
    want = reference_bars(trades, quotes=quotes)
    assert_rows_equal(got, want, TRADE_FIELDS + QUOTE_FIELDS + FLAG_FIELDS)


@settings(max_examples=60, deadline=None)
@given(trade_lists(), st.randoms(use_true_random=False))
def test_input_order_only_matters_for_ties(trades: list[Trade], rnd: object) -> None:
    # Sorting by (symbol, ts) stably keeps the order of equal timestamps, so bars must not change.
    stable = sorted(trades, key=lambda t: (t[0], t[1]))
    a, b = rows_of(run(trades)), rows_of(run(stable))
    fields = ["open", "high", "low", "close", "n_trades", "first_trade_ts", "last_trade_ts", "stale"]
    assert_rows_equal(a, b, fields)
    for key in a:
        assert a[key]["volume"] == pytest.approx(b[key]["volume"], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(trade_lists())
def test_trade_fields_equal_polars_group_by_dynamic(trades: list[Trade]) -> None:
    got = rows_of(run(trades))
    a = trade_arrays(trades)
    frame = (
        pl.DataFrame(a)
        .with_columns(pl.col("ts").cast(pl.Datetime("ms")).alias("t"), pl.col("ts").alias("ts_ms"))
        .sort(["symbol", "t"], maintain_order=True)
    )
    polars_bars = frame.group_by_dynamic(
        "t", every="1s", closed="left", label="right", group_by="symbol"
    ).agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("qty").sum().alias("volume"),
        (pl.col("price") * pl.col("qty")).sum().alias("notional"),
        pl.col("qty").filter(pl.col("taker_buy")).sum().alias("buy_volume"),
        pl.col("qty").filter(~pl.col("taker_buy")).sum().alias("sell_volume"),
        pl.len().alias("n_trades"),
        pl.col("ts_ms").min().alias("first_trade_ts"),
        pl.col("ts_ms").max().alias("last_trade_ts"),
    )
    with_trades = {k: v for k, v in got.items() if v["n_trades"] > 0}
    assert len(polars_bars) == len(with_trades)
    for row in polars_bars.iter_rows(named=True):
        key = (row["symbol"], int(row["t"].timestamp() * 1000))
        mine = with_trades[key]
        for f in ("open", "high", "low", "close", "n_trades", "first_trade_ts", "last_trade_ts"):
            assert mine[f] == row[f], (key, f)
        for f in ("volume", "notional", "buy_volume", "sell_volume"):
            assert math.isclose(mine[f], row[f], rel_tol=1e-12, abs_tol=1e-12), (key, f)


@settings(max_examples=60, deadline=None)
@given(
    trade_lists(max_size=20).filter(bool),
    st.data(),
    st.sampled_from(["price", "qty"]),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]),
)
def test_invalid_values_are_rejected_naming_the_row(
    trades: list[Trade], data: st.DataObject, field: str, bad: float
) -> None:
    a = trade_arrays(trades)
    row = data.draw(st.integers(0, len(trades) - 1))
    a[field][row] = bad
    with pytest.raises(ValueError, match=rf"^trades row {row}: {field} = "):
        trade_bars(a["ts"], a["price"], a["qty"], a["taker_buy"], symbol=a["symbol"])


def test_second_boundary_and_empty_second() -> None:
    got = trade_bars(
        [BASE_MS + 4999, BASE_MS + 5000, BASE_MS + 7000], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [True] * 3
    )
    assert got["ts"].tolist() == [BASE_MS + 5000, BASE_MS + 6000, BASE_MS + 7000, BASE_MS + 8000]
    assert got["close"].tolist() == [1.0, 2.0, 2.0, 3.0]
    assert got["stale"].tolist() == [False, False, True, False]


def test_frame_shares_numeric_buffers() -> None:
    got = trade_bars([BASE_MS, BASE_MS + 2500], [1.0, 2.0], [1.0, 1.0], [True, False])
    frame = to_frame(got)
    assert frame["ts"].dtype == pl.Datetime("ms", "UTC")
    assert np.shares_memory(frame["close"].to_numpy(), got["close"])
    assert frame["stale"].to_list() == [False, True, False]
