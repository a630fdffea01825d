"""Upbit's per-market day statistics (UTC day), which tickers and trade messages carry."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

DAY_MS = 86_400_000


@dataclass
class UpbitDay:
    tick: float
    prev_close: float
    open: float
    high: float
    low: float
    acc_vol: float
    acc_price: float
    acc_ask: float
    acc_bid: float
    vol_24h_base: float
    price_24h_base: float
    high_52w: float
    high_52w_date: str
    low_52w: float
    low_52w_date: str
    day: int
    last_price: float = 0.0
    last_qty: float = 0.0
    last_is_ask: bool = False
    last_T: int = 0
    prev_close_by_day: dict[int, float] = field(default_factory=dict)

    @classmethod
    def seeded(
        cls, gen: np.random.Generator, first_price: float, tick: float, start_ms: int, daily_vol: float
    ) -> UpbitDay:
        """Plausible statistics for a day already in progress when the simulator starts."""

        def on_tick(x: float) -> float:
            return round(x / tick) * tick

        prev_close = on_tick(first_price * (1 + gen.normal(0, 0.015)))
        frac = (start_ms % DAY_MS) / DAY_MS
        acc_vol = daily_vol * max(frac, 0.01)
        day = start_ms // DAY_MS
        return cls(
            tick=tick,
            prev_close=prev_close,
            open=prev_close,
            high=on_tick(max(prev_close, first_price) * (1 + gen.uniform(0, 0.01))),
            low=on_tick(min(prev_close, first_price) * (1 - gen.uniform(0, 0.01))),
            acc_vol=acc_vol,
            acc_price=acc_vol * first_price,
            acc_ask=acc_vol * 0.49,
            acc_bid=acc_vol * 0.51,
            vol_24h_base=daily_vol * (1 - max(frac, 0.01)),
            price_24h_base=daily_vol * (1 - max(frac, 0.01)) * prev_close,
            high_52w=on_tick(first_price * 1.45),
            high_52w_date=_date(start_ms - 140 * DAY_MS),
            low_52w=on_tick(first_price * 0.62),
            low_52w_date=_date(start_ms - 300 * DAY_MS),
            day=day,
            last_price=first_price,
            prev_close_by_day={day: prev_close},
        )

    def on_trade(self, price: float, qty: float, is_ask: bool, T: int) -> None:
        day = T // DAY_MS
        if day != self.day:
            self.prev_close = self.last_price
            self.open = self.high = self.low = price
            self.acc_vol = self.acc_price = self.acc_ask = self.acc_bid = 0.0
            self.day = day
            self.prev_close_by_day[day] = self.prev_close
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.acc_vol += qty
        self.acc_price += qty * price
        if is_ask:
            self.acc_ask += qty
        else:
            self.acc_bid += qty
        if price > self.high_52w:
            self.high_52w, self.high_52w_date = price, _date(T)
        self.last_price, self.last_qty, self.last_is_ask, self.last_T = price, qty, is_ask, T

    def change(self, price: float) -> tuple[str, float]:
        diff = price - self.prev_close
        return ("RISE" if diff > 0 else "FALL" if diff < 0 else "EVEN"), diff


def _date(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))
