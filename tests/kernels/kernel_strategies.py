"""Hypothesis strategies for trade streams, quote streams and bar series."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from tests.kernels.kernel_reference import Bar, Quote, Trade

BASE_MS = 1_700_000_000_000

prices = st.one_of(st.sampled_from([1.0, 2.5, 100.0, 100.5]), st.floats(0.01, 1e6))
quantities = st.one_of(st.sampled_from([1.0, 0.5]), st.floats(1e-6, 1e3))
# On-boundary times, half seconds, arbitrary times and a small pool of repeated times for ties.
times = st.one_of(
    st.integers(0, 25).map(lambda s: BASE_MS + 1000 * s),
    st.integers(0, 25_000).map(lambda o: BASE_MS + o),
    st.sampled_from([BASE_MS + 4999, BASE_MS + 5000, BASE_MS + 5001]),
)


# A half-second lattice, so events land exactly on watermark boundaries often.
lattice_times = st.integers(0, 50).map(lambda h: BASE_MS + 500 * h)


@st.composite
def trade_lists(
    draw: st.DrawFn, max_symbols: int = 3, max_size: int = 60, at: st.SearchStrategy[int] = times
) -> list[Trade]:
    """Unsorted trades over a few symbols, with duplicates, ties and empty seconds."""
    trades = draw(
        st.lists(
            st.tuples(st.integers(0, max_symbols - 1), at, prices, quantities, st.booleans()),
            max_size=max_size,
        )
    )
    duplicates = draw(st.lists(st.sampled_from(trades), max_size=5)) if trades else []
    return trades + duplicates


@st.composite
def quote_lists(
    draw: st.DrawFn, max_symbols: int = 3, max_size: int = 40, at: st.SearchStrategy[int] = times
) -> list[Quote]:
    """Best bid/ask updates; bid below ask, quantities may be zero."""
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, max_symbols - 1),
                at,
                prices,
                st.floats(0.0, 50.0),
                st.floats(0.0, 0.1),
                st.floats(0.0, 50.0),
            ),
            max_size=max_size,
        )
    )
    return [(s, t, bid, bq, bid * (1.0 + rel), aq) for s, t, bid, bq, rel, aq in rows]


@st.composite
def bar_series(draw: st.DrawFn, max_symbols: int = 2, max_len: int = 60) -> list[Bar]:
    """Bars sorted by (symbol, ts) with missing seconds, gap bars and missing spreads."""
    bars: list[Bar] = []
    for symbol in range(draw(st.integers(1, max_symbols))):
        n = draw(st.integers(0, max_len))
        ts = BASE_MS + 1000 * draw(st.integers(0, 5))
        log_price = math.log(draw(st.floats(1.0, 1000.0)))
        for _ in range(n):
            ts += 1000 * draw(st.sampled_from([1, 1, 1, 1, 1, 1, 1, 1, 2, 3]))
            log_price += draw(st.floats(-0.01, 0.01))
            close = math.exp(log_price)
            high = close * (1.0 + draw(st.floats(0.0, 0.01)))
            low = close * (1.0 - draw(st.floats(0.0, 0.01)))
            gap = draw(st.integers(0, 19)) == 0
            spread = draw(st.one_of(st.floats(0.0, 20.0), st.just(math.nan)))
            bars.append(Bar(symbol, ts, close, high, low, gap, spread))
    return bars
