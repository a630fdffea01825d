"""Answers about the market at any time: the run's own record (ledger) for times it covers, the model's
stateless series before the run started. The REST endpoints of all three venues read through this, so
history endpoints agree with what the streams sent."""

from __future__ import annotations

import time

import numpy as np

from cqt.sim.ledger import Ledger
from cqt.sim.market import FUNDING_PERIOD_MS, MarketModel
from cqt.sim.series import smooth_noise
from cqt.sim.specs import asset_spec, binance_asset
from cqt.sim.tables import F64, I64

_SETTLE_DELAY_MS = 3  # Binance stamps a settlement a few ms after the 8 h mark


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MarketView:
    def __init__(self, model: MarketModel, ledger: Ledger, start_ms: int) -> None:
        self.model = model
        self.ledger = ledger
        self.start_ms = start_ms

    def _anchor(self, symbol: str) -> float:
        marks = self.ledger.marks(symbol)
        if len(marks):
            return float(marks.mark[0])
        at = np.array([self.start_ms], dtype=np.int64)
        return float(self.model.price_level(binance_asset(symbol), at)[0])

    def price_at(self, symbol: str, t_ms: I64) -> F64:
        """Binance mark price at each time."""
        t = np.asarray(t_ms, dtype=np.int64)
        marks = self.ledger.marks(symbol)
        hist = self.model.history_price(binance_asset(symbol), t, self.start_ms, self._anchor(symbol))
        if not len(marks):
            return hist
        idx = np.clip(np.searchsorted(marks.E, t, side="right") - 1, 0, len(marks) - 1)
        return np.where(t >= marks.E[0], marks.mark[idx], hist)

    def funding_rate_at(self, symbol: str, t_ms: I64) -> F64:
        """The predicted funding rate (fraction) at each time."""
        t = np.asarray(t_ms, dtype=np.int64)
        marks = self.ledger.marks(symbol)
        hist = self.model.funding_history(symbol, t)
        if not len(marks):
            return hist
        idx = np.clip(np.searchsorted(marks.E, t, side="right") - 1, 0, len(marks) - 1)
        return np.where(t >= marks.E[0], marks.funding_rate[idx], hist)

    def fundings(self, symbol: str, lo_ms: int, hi_ms: int) -> list[tuple[int, float, float]]:
        """Settled fundings (time, rate, mark price) with time in [lo, hi], oldest first."""
        rows: list[tuple[int, float, float]] = []
        first = (max(lo_ms, 0) // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
        marks = np.arange(first, min(hi_ms, self.start_ms) + 1, FUNDING_PERIOD_MS, dtype=np.int64)
        settled = marks + _SETTLE_DELAY_MS
        keep = (settled >= lo_ms) & (settled <= hi_ms) & (marks < self.start_ms)
        marks, settled = marks[keep], settled[keep]
        if marks.shape[0]:
            rates = self.model.funding_history(symbol, marks)
            prices = self.price_at(symbol, marks)
            rows += [(int(t), float(r), float(p)) for t, r, p in zip(settled, rates, prices, strict=True)]
        live = self.ledger.fundings(symbol)
        for t, r, p in zip(live.funding_time.tolist(), live.rate.tolist(), live.mark.tolist(), strict=True):
            if lo_ms <= t <= hi_ms:
                rows.append((t, r, p))
        return rows

    def taker_volumes(self, symbol: str, starts: I64, period_ms: int) -> tuple[F64, F64]:
        """Taker buy and sell base volume per bucket: the run's trades where the run covers the bucket."""
        trades = self.ledger.binance_trades(symbol)
        spec = asset_spec(binance_asset(symbol))
        j = self.model.binance_symbols.index(symbol)
        typical = self.model.trade_rate[j] * spec.mean_qty * period_ms / 1000 / 2
        noise = smooth_noise(self.model.seed, f"taker:{symbol}", starts, 3_600_000)
        buy = typical * np.exp(0.3 * noise + 0.1)
        sell = typical * np.exp(-0.3 * noise + 0.1)
        covered = starts >= self.start_ms
        if covered.any() and len(trades):
            lo = np.searchsorted(trades.T, starts, side="left")
            hi = np.searchsorted(trades.T, starts + period_ms, side="left")
            seller = np.concatenate([[0.0], np.cumsum(np.where(trades.buyer_maker, trades.qty, 0.0))])
            total = np.concatenate([[0.0], np.cumsum(trades.qty)])
            sells = seller[hi] - seller[lo]
            buys = (total[hi] - total[lo]) - sells
            buy = np.where(covered, buys, buy)
            sell = np.where(covered, sells, sell)
        return buy, sell

    def liquidation_usd(self, symbol: str, starts: I64, period_ms: int) -> tuple[F64, F64]:
        """Long and short liquidation notional per bucket: a background of other traders' liquidations
        the stream never shows, plus every liquidation the run generated for this symbol."""
        spec = asset_spec(binance_asset(symbol))
        scale = spec.open_interest * spec.price_usdt * 2e-5 * period_ms / 3_600_000
        longs = scale * np.exp(0.8 * smooth_noise(self.model.seed, f"liql:{symbol}", starts, 6 * 3_600_000))
        shorts = scale * np.exp(0.8 * smooth_noise(self.model.seed, f"liqs:{symbol}", starts, 6 * 3_600_000))
        liq = self.ledger.liquidations(symbol)
        if len(liq):
            notional = liq.qty * liq.avg_price
            bucket = np.searchsorted(starts, liq.T, side="right") - 1
            inside = (bucket >= 0) & (liq.T < starts[np.clip(bucket, 0, None)] + period_ms)
            for side_mask, acc in ((liq.is_sell, longs), (~liq.is_sell, shorts)):
                sel = inside & side_mask
                np.add.at(acc, bucket[sel], notional[sel])
        return longs, shorts
