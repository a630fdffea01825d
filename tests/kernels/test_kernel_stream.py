"""Streaming aggregator: last revision of every bar equals the batch kernel on applied events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cqt.bars import Columns, StreamAggregator, trade_bars
from tests.kernels.kernel_compare import (
    FLAG_FIELDS,
    QUOTE_FIELDS,
    TRADE_FIELDS,
    assert_rows_equal,
    quote_arrays,
    rows_of,
    trade_arrays,
)
from tests.kernels.kernel_reference import Quote, Row, Trade, reference_bars, stream_drops
from tests.kernels.kernel_strategies import lattice_times, quote_lists, trade_lists

# Half-second delays with lattice event times make "exactly at the watermark" cases frequent.
delays = st.integers(0, 12).map(lambda h: 500 * h)


def collect(
    emitted: list[Columns], last: dict[tuple[int, int], Row], revisions: dict[tuple[int, int], int]
) -> None:
    """Keeps the last revision per key and checks that revisions count up by one."""
    for batch in emitted:
        for key, row in rows_of(batch).items():
            assert row["revision"] == revisions.get(key, -1) + 1, key
            revisions[key] = int(row["revision"])
            last[key] = row
    emitted.clear()


@settings(max_examples=150, deadline=None)
@given(
    trade_lists(max_size=80, at=lattice_times),
    delays,
    delays,
    st.lists(st.integers(1, 12), min_size=1),
)
def test_stream_equals_batch_on_applied_trades(
    trades: list[Trade], grace_ms: int, lateness_ms: int, sizes: list[int]
) -> None:
    agg = StreamAggregator(grace_ms=grace_ms, lateness_ms=lateness_ms)
    emitted: list[Columns] = []
    last: dict[tuple[int, int], Row] = {}
    revisions: dict[tuple[int, int], int] = {}
    start = 0
    while start < len(trades):
        batch = trades[start : start + sizes[start % len(sizes)]]
        start += len(batch)
        a = trade_arrays(batch)
        emitted.append(agg.push_trades(a["ts"], a["price"], a["qty"], a["taker_buy"], symbol=a["symbol"]))
        watermark = agg.watermark
        assert watermark is not None
        # Nothing is emitted before the watermark reaches its end.
        assert all(t <= watermark for t in emitted[-1]["ts"].tolist())
        collect(emitted, last, revisions)
    emitted.append(agg.flush())
    collect(emitted, last, revisions)

    dropped = stream_drops([(t[0], t[1]) for t in trades], grace_ms, lateness_ms)
    applied = [t for t, d in zip(trades, dropped, strict=True) if not d]
    assert agg.late_dropped == sum(dropped)
    assert_rows_equal(last, reference_bars(applied), TRADE_FIELDS + ["stale"])


@settings(max_examples=80, deadline=None)
@given(
    trade_lists(max_size=40),
    quote_lists(max_size=40),
    st.integers(0, 2000),
    st.integers(0, 3000),
    st.integers(1, 10),
)
def test_stream_with_quotes_equals_batch(
    trades: list[Trade], quotes: list[Quote], grace_ms: int, lateness_ms: int, size: int
) -> None:
    agg = StreamAggregator(grace_ms=grace_ms, lateness_ms=lateness_ms, with_quotes=True)
    emitted: list[Columns] = []
    last: dict[tuple[int, int], Row] = {}
    revisions: dict[tuple[int, int], int] = {}
    order: list[tuple[str, int, int]] = []  # processing order of every event: kind, symbol, ts
    for start in range(0, max(len(trades), len(quotes)), size):
        tb, qb = trades[start : start + size], quotes[start : start + size]
        a = trade_arrays(tb)
        emitted.append(agg.push_trades(a["ts"], a["price"], a["qty"], a["taker_buy"], symbol=a["symbol"]))
        emitted.append(agg.push_quotes(quote_arrays(qb)))
        order += [("t", t[0], t[1]) for t in tb] + [("q", q[0], q[1]) for q in qb]
        collect(emitted, last, revisions)
    emitted.append(agg.flush())
    collect(emitted, last, revisions)

    dropped = stream_drops([(s, ts) for _, s, ts in order], grace_ms, lateness_ms)
    kept_t = iter([not d for (kind, _, _), d in zip(order, dropped, strict=True) if kind == "t"])
    kept_q = iter([not d for (kind, _, _), d in zip(order, dropped, strict=True) if kind == "q"])
    t_in_order = [
        t for start in range(0, max(len(trades), len(quotes)), size) for t in trades[start : start + size]
    ]
    q_in_order = [
        q for start in range(0, max(len(trades), len(quotes)), size) for q in quotes[start : start + size]
    ]
    applied_t = [t for t in t_in_order if next(kept_t)]
    applied_q = [q for q in q_in_order if next(kept_q)]
    assert agg.late_dropped + agg.late_dropped_quotes == sum(dropped)
    assert_rows_equal(
        last, reference_bars(applied_t, quotes=applied_q), TRADE_FIELDS + QUOTE_FIELDS + FLAG_FIELDS
    )


def test_late_trade_revises_and_too_late_is_counted() -> None:
    agg = StreamAggregator(grace_ms=0, lateness_ms=3000)
    first = agg.push_trades([100, 3100], [10.0, 11.0], [1.0, 1.0], [True, True])
    assert first["ts"].tolist() == [1000, 2000, 3000]
    revised = agg.push_trades([900], [12.0], [1.0], [False])
    assert revised["ts"].tolist() == [1000, 2000, 3000]
    assert revised["revision"].tolist() == [1, 1, 1]
    assert revised["close"].tolist() == [12.0, 12.0, 12.0]
    agg.push_trades([5000], [13.0], [1.0], [True])
    assert agg.push_trades([950], [14.0], [1.0], [True])["ts"].size == 0
    assert agg.late_dropped == 1


def test_stream_matches_batch_output_layout() -> None:
    agg = StreamAggregator(grace_ms=0, lateness_ms=0)
    agg.push_trades([100], [1.0], [1.0], [True])
    out = agg.flush()
    batch = trade_bars([100], [1.0], [1.0], [True])
    assert set(out) == set(batch) | {"revision"}


def test_invalid_batch_is_rejected_without_side_effects() -> None:
    agg = StreamAggregator()
    with pytest.raises(ValueError, match=r"^trades row 1: qty = -1"):
        agg.push_trades([100, 200], [1.0, 1.0], [1.0, -1.0], [True, True])
    assert agg.watermark is None
