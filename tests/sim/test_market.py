"""The market model on its own: seeded, split-independent, and shaped like a market."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import numpy as np
import pytest

from cqt.sim import MarketBatch, MarketModel, MarketRun
from cqt.sim.market import FUNDING_PERIOD_MS, METRIC_PERIOD_MS
from cqt.sim.tables import (
    BinanceQuotes,
    BinanceTrades,
    Fundings,
    Liquidations,
    MarkPrices,
    Metrics,
    Table,
    UpbitTrades,
)

T = TypeVar("T", bound=Table)

T0 = 1_790_000_000_000  # an arbitrary UTC time, not aligned to anything in particular
HOUR = 3_600_000


def _concat(batches: list[MarketBatch], key: str, kind: type[T]) -> T:
    parts = [getattr(b, key) for b in batches]
    assert all(isinstance(p, kind) for p in parts)
    return kind.concat(parts)


@pytest.fixture(scope="module")
def day() -> list[MarketBatch]:
    return list(MarketModel(3).generate(T0, T0 + 24 * HOUR))


def test_same_seed_same_market_whatever_the_split() -> None:
    model = MarketModel(5)
    whole = list(model.generate(T0, T0 + HOUR, step_ms=HOUR))
    pieces = list(model.generate(T0, T0 + HOUR, step_ms=7_777))
    kinds: list[tuple[str, type[Table]]] = [
        ("binance_trades", BinanceTrades),
        ("upbit_trades", UpbitTrades),
        ("marks", MarkPrices),
        ("liquidations", Liquidations),
        ("metrics", Metrics),
        ("binance_quotes", BinanceQuotes),
    ]
    for key, kind in kinds:
        a, b = _concat(whole, key, kind), _concat(pieces, key, kind)
        assert len(a) == len(b) > 0 or key in ("liquidations",)
        for f in dataclasses.fields(a):
            np.testing.assert_allclose(
                getattr(a, f.name), getattr(b, f.name), rtol=1e-10, err_msg=f"{key}.{f.name}"
            )
    other = _concat(list(MarketModel(6).generate(T0, T0 + HOUR)), "binance_trades", BinanceTrades)
    assert not np.array_equal(other.price[:100], _concat(whole, "binance_trades", BinanceTrades).price[:100])


def test_a_later_run_continues_every_id_of_an_earlier_one() -> None:
    # the earlier run at the fastest rate the tests use, the later one at the default: one database
    fast = MarketModel(7, rate=150_000.0, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    slow = MarketModel(7, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",))
    end = T0 + 5_000
    runs = [list(fast.generate(T0, end)), list(slow.generate(end, end + 5_000))]
    binance = [_concat(r, "binance_trades", BinanceTrades) for r in runs]
    quotes = [_concat(r, "binance_quotes", BinanceQuotes) for r in runs]
    upbit = [_concat(r, "upbit_trades", UpbitTrades) for r in runs]
    keys = [
        (binance[0].agg_id, binance[1].agg_id),
        (binance[0].first_id, binance[1].first_id),
        (binance[0].last_id, binance[1].last_id),
        (quotes[0].update_id, quotes[1].update_id),
        (upbit[0].seq_id, upbit[1].seq_id),
    ]
    for earlier, later in keys:
        assert len(earlier) > 0 and len(later) > 0
        assert 0 <= earlier.min() and earlier.max() < later.min() and later.max() < 2**63
    assert np.all(np.diff(binance[1].agg_id) == 1)


def test_runs_started_at_different_times_follow_different_price_paths() -> None:
    model = MarketModel(7)
    first = _concat(list(model.generate(T0, T0 + 60_000)), "marks", MarkPrices)
    later = _concat(list(model.generate(T0 + 120_000, T0 + 180_000)), "marks", MarkPrices)
    again = _concat(list(model.generate(T0 + 120_000, T0 + 180_000)), "marks", MarkPrices)
    np.testing.assert_array_equal(later.mark, again.mark)  # seed and start time decide the market
    a, b = first.mark[first.sym == 0], later.mark[later.sym == 0]
    assert a[0] != b[0]
    assert not np.allclose(np.diff(np.log(a)), np.diff(np.log(b)))
    # the run opens with a mark at its start, on the level path the history before it follows
    assert first.E[0] == T0
    history = model.history_price("BTC", np.array([T0 + 120_000]), T0, float(a[0]))
    assert b[0] == pytest.approx(history[0])


def test_a_start_outside_the_id_range_is_refused() -> None:
    with pytest.raises(ValueError, match="id range"):
        MarketRun(MarketModel(7), -1000)
    with pytest.raises(ValueError, match="id range"):
        MarketRun(MarketModel(7), 10**13)


def test_batches_cover_the_range_in_emission_order(day: list[MarketBatch]) -> None:
    assert day[0].start_ms == T0 and day[-1].end_ms == T0 + 24 * HOUR
    for batch in day:
        trades = batch.binance_trades
        assert np.all((trades.E >= batch.start_ms) & (trades.E < batch.end_ms))
        assert np.all(np.diff(trades.E) >= 0)
        assert np.all(trades.E >= trades.T)


def test_rate_matches_the_target_on_average() -> None:
    model = MarketModel(8, rate=500.0)
    total = sum(b.message_count() for b in model.generate(T0, T0 + 2 * HOUR))
    assert 0.8 * 500 < total / 7200 < 1.25 * 500


def test_agg_trade_and_fill_ids_are_contiguous_per_symbol(day: list[MarketBatch]) -> None:
    trades = _concat(day, "binance_trades", BinanceTrades)
    for j in (0, 1):
        t = trades.take(trades.sym == j)
        assert np.all(np.diff(t.agg_id) == 1)
        assert np.all(t.first_id[1:] == t.last_id[:-1] + 1)
        assert np.all(t.last_id >= t.first_id)


def test_upbit_sequential_ids(day: list[MarketBatch]) -> None:
    trades = _concat(day, "upbit_trades", UpbitTrades)
    assert np.all(trades.seq_id // 10_000 == trades.T)
    assert len(np.unique(trades.seq_id)) == len(trades)  # unique across markets, too


def test_krw_price_is_usdt_price_times_fx_and_premium(day: list[MarketBatch]) -> None:
    binance = _concat(day, "binance_trades", BinanceTrades)
    upbit = _concat(day, "upbit_trades", UpbitTrades)
    b = binance.take(binance.sym == 0)
    u = upbit.take(upbit.sym == 0)
    idx = np.clip(np.searchsorted(b.T, u.T), 0, len(b) - 1)
    implied = u.price / b.price[idx]  # KRW per USDT incl. premium
    assert 1_300 < np.median(implied) < 1_500
    assert np.percentile(implied, 99) / np.percentile(implied, 1) < 1.08
    assert np.median(implied) > 1_400 * 0.995  # the kimchi premium is positive on average


def test_volatility_is_stochastic_and_trading_bursts(day: list[MarketBatch]) -> None:
    marks = _concat(day, "marks", MarkPrices)
    btc = marks.mark[marks.sym == 0]
    rets = np.diff(np.log(btc))
    rets = rets[: len(rets) // 600 * 600].reshape(-1, 600)  # 10-minute blocks of 1 s returns
    vol = rets.std(axis=1)
    assert vol.max() / vol.min() > 2.0
    trades = _concat(day, "binance_trades", BinanceTrades)
    per_second = np.bincount((trades.T[trades.sym == 0] - T0) // 1000)
    assert per_second.max() > 5 * per_second.mean()


def test_funding_settles_every_eight_hours(day: list[MarketBatch]) -> None:
    funding = _concat(day, "fundings", Fundings)
    times = funding.funding_time[funding.sym == 0]
    assert len(times) == 3
    assert np.all(times - times % FUNDING_PERIOD_MS == (times // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS)
    assert np.all(times % FUNDING_PERIOD_MS < 10)
    assert np.all(np.abs(funding.rate) <= 0.0075)


def test_liquidations_come_in_one_sided_cascades(day: list[MarketBatch]) -> None:
    liq = _concat(day, "liquidations", Liquidations)
    btc = liq.take(liq.sym == 0)
    assert len(btc) > 20
    window = (btc.T - T0) // 30_000
    counts = np.bincount(window)
    busiest = int(np.argmax(counts))
    assert counts[busiest] >= 5
    sides = btc.is_sell[window == busiest]
    assert max(sides.mean(), 1 - sides.mean()) >= 0.8


def test_metric_rows_every_five_minutes_match_the_trades(day: list[MarketBatch]) -> None:
    metrics = _concat(day, "metrics", Metrics)
    trades = _concat(day, "binance_trades", BinanceTrades)
    m = metrics.take(metrics.sym == 1)
    assert np.all(np.diff(m.period_start) == METRIC_PERIOD_MS)
    assert m.period_start[0] >= T0 and np.all(m.E == m.period_start + METRIC_PERIOD_MS)
    row = 7
    t = trades.take((trades.sym == 1) & (trades.T >= m.period_start[row]) & (trades.T < m.E[row]))
    assert m.taker_buy_vol[row] == pytest.approx(t.qty[~t.buyer_maker].sum())
    assert m.taker_sell_vol[row] == pytest.approx(t.qty[t.buyer_maker].sum())
    assert np.all((m.long_account > 0.2) & (m.long_account < 0.8))
