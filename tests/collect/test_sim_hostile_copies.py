"""The simulator's hostile copies (`malformed` fault, cqt.sim.faults) keep the contract the bot test relies
on: each copy of a real frame is either rejected by the collector or read as exactly the original's rows
(a mark price with `T: 0` reads as the original without its funding fields)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cqt.collect.rows import Row
from cqt.sim.faults import HOSTILE_CASES, hostile_frame
from tests.collect.test_hostile_frames import (
    RECV,
    agg_trade,
    binance,
    book_ticker,
    envelope,
    force_order,
    mark,
    upbit,
    upbit_book,
    upbit_trade,
)

SIM_ORIGINALS = [
    ("binance", envelope("btcusdt@aggTrade", agg_trade(s="BTCUSDT"))),
    ("binance", envelope("btcusdt@bookTicker", book_ticker())),
    ("binance", envelope("btcusdt@markPrice@1s", mark())),
    ("binance", envelope("mantausdt@forceOrder", force_order())),
    ("upbit", json.dumps(upbit_trade())),
    ("upbit", json.dumps(upbit_book())),
]


def _rows_of(venue: str, text: str) -> tuple[list[tuple[str, Row]], int]:
    """The rows a fresh collector sinks for one frame, and how many frames it counted malformed."""
    if venue == "binance":
        collector, sunk = binance(("BTCUSDT", "MANTAUSDT"))
        collector._on_frame(text, RECV)
        bad = sum(collector.malformed.values())
    else:
        ucollector, sunk = upbit()
        ucollector._on_frame(text.encode(), RECV)
        bad = sum(ucollector.malformed.values())
    return [(t, r) for t, rows in sunk for r in rows], bad


@pytest.mark.parametrize(("venue", "original"), SIM_ORIGINALS, ids=lambda v: str(v)[:30])
def test_simulated_hostile_copies_are_rejected_or_read_as_their_original(venue: str, original: str) -> None:
    expected, bad = _rows_of(venue, original)
    assert expected and bad == 0
    outcomes: Counter[str] = Counter()
    for n in range(len(HOSTILE_CASES) * 7):  # every case with each of its variants
        got, bad = _rows_of(venue, hostile_frame(original, n))
        case = HOSTILE_CASES[n % len(HOSTILE_CASES)]
        if got and case == "optional_zero_or_2052":  # a mark price without its next funding: valid
            assert [(t, r[:7]) for t, r in got] == [(t, r[:7]) for t, r in expected] and got[0][1][7:] == (
                None,
                None,
            )
        else:
            assert got in ([], expected), (case, n)
        assert bool(got) != bool(bad), (case, n)
        outcomes["read" if got else "rejected"] += 1
    assert outcomes["rejected"] > outcomes["read"] > 0
