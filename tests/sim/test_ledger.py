"""The ledger: complete per-symbol history within the retention window, latest quote and book only."""

from __future__ import annotations

import time

import numpy as np

from cqt.sim import Ledger, MarketModel, SimConfig, SimServer

T0 = 1_790_000_000_000


def test_ledger_keeps_every_trade_within_retention_and_latest_quotes() -> None:
    model = MarketModel(2)
    ledger = Ledger(model.binance_symbols, model.upbit_symbols, retention_ms=120_000)
    everything = []
    for batch in model.generate(T0, T0 + 600_000, step_ms=1_000):
        ledger.record(batch)
        everything.append(batch)
    trades = ledger.binance_trades("ETHUSDT")
    span_s = (int(trades.E[-1]) - int(trades.E[0])) / 1000
    assert 120 <= span_s <= 181  # trimmed once a minute to the last 120 s
    all_eth = np.concatenate([b.binance_trades.agg_id[b.binance_trades.sym == 1] for b in everything])
    assert np.array_equal(trades.agg_id, all_eth[-len(trades) :])  # nothing missing inside the window
    last_quote = ledger.binance_quote_last("ETHUSDT")
    assert last_quote is not None and len(last_quote) == 1
    last_all = everything[-1].binance_quotes
    assert int(last_quote.update_id[0]) == int(last_all.update_id[last_all.sym == 1][-1])


def test_withheld_ids_are_recorded_per_venue_and_symbol() -> None:
    ledger = Ledger(("BTCUSDT",), ("KRW-BTC",))
    ledger.withhold("binance", "BTCUSDT", [5, 6])
    ledger.withhold("upbit", "KRW-BTC", [17_000_000_000_000_000])
    assert ledger.withheld_ids("binance", "BTCUSDT") == [5, 6]
    assert ledger.withheld_ids("upbit", "KRW-BTC") == [17_000_000_000_000_000]
    assert ledger.faults_applied["gap"] == 3


def test_consecutive_servers_of_one_seed_record_disjoint_runs() -> None:
    cfg = SimConfig(seed=7, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    runs = []
    for _ in range(2):
        with SimServer.in_thread(cfg) as sim:
            assert sim.ledger.mark_last("BTCUSDT") is not None  # the first tick carries the opening mark
            time.sleep(1.5)
            runs.append(
                (
                    sim.ledger.binance_trades("BTCUSDT"),
                    sim.ledger.upbit_trades("KRW-BTC"),
                    sim.ledger.marks("BTCUSDT"),
                )
            )
    (b1, u1, m1), (b2, u2, m2) = runs
    assert len(b1) and len(b2) and len(u1) and len(u2)
    assert b1.agg_id.max() < b2.agg_id.min() and b1.last_id.max() < b2.first_id.min()
    assert u1.seq_id.max() < u2.seq_id.min()
    assert m1.E.max() < m2.E.min() and b1.T.max() < b2.T.min()  # the second run re-times nothing
