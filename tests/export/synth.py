"""Generated rows written straight into the raw tables, for the cases a simulator run cannot stage on
demand: a gap bar inside a horizon, missing seconds, late (revised) bars, a metric backfilled out of
order, a range across midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

BASE = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
GAP_S = range(2000, 2005)  # seconds after BASE whose Binance bars are gap bars
MISSING_S = range(2500, 2503)  # seconds after BASE with no Binance bar at all
BACKFILLED_PERIOD = 5  # the open-interest period whose row arrives 700 s late


@dataclass(frozen=True)
class Synth:
    start: datetime
    end: datetime
    seconds: int


def at(s: float) -> datetime:
    return BASE + timedelta(seconds=float(s))


def fill(conninfo: str, seconds: int = 3600, seed: int = 1, vol: float = 3e-4) -> Synth:
    """Bars of both venues, mark prices, metrics and predictions for ``seconds`` after ``BASE``."""
    rng = np.random.default_rng(seed)
    secs = list(range(1, seconds + 1))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, seconds)))
    wiggle = np.abs(rng.normal(0.0, vol, (2, seconds)))
    delay = rng.uniform(0.5, 4.0, seconds)
    delay[rng.random(seconds) < 0.02] += 12.0  # revised bars: re-emitted after the grace window
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY market_1s (exchange, symbol, ts, recv_ts, open, high, low, close, volume, n_trades,"
            " bid_close, ask_close, spread_bps, mid_close, imbalance, stale, gap) FROM STDIN"
        ) as copy:
            for i, s in enumerate(secs):
                if s in MISSING_S:
                    continue
                gap = s in GAP_S
                c = None if gap else float(close[i])
                stale = bool(rng.random() < 0.1)
                for ex, sym, scale in (("binance", "BTCUSDT", 1.0), ("upbit", "KRW-BTC", 1400.0)):
                    px = None if c is None else c * scale
                    hi = None if px is None else px * (1 + wiggle[0, i])
                    lo = None if px is None else px * (1 - wiggle[1, i])
                    spread = float(rng.uniform(0.5, 2.0))
                    copy.write_row((
                        ex, sym, at(s), at(s + delay[i] + (0.3 if ex == "upbit" else 0.0)), px, hi, lo, px,
                        0.0 if stale else float(rng.uniform(0.1, 5.0)), 0 if stale else int(rng.integers(1, 50)),
                        None if px is None else px * (1 - spread / 2e4), None if px is None else px * (1 + spread / 2e4),
                        spread, px, float(rng.uniform(-1, 1)), stale, gap and ex == "binance",
                    ))  # fmt: skip
        with cur.copy(
            "COPY mark_price (exchange, symbol, ts, recv_ts, mark_price, index_price, funding_rate)"
            " FROM STDIN"
        ) as copy:
            for i, s in enumerate(secs):
                copy.write_row(("binance", "BTCUSDT", at(s - 0.5), at(s - 0.5 + rng.uniform(0.05, 1.5)),
                                float(close[i]) * 1.0002, float(close[i]), 1e-4))  # fmt: skip
        with cur.copy(
            "COPY metrics (source, symbol, metric, ts, recv_ts, period_s, value) FROM STDIN"
        ) as copy:
            for k, end in enumerate(range(300, seconds + 1, 300)):
                late = 700.0 if k == BACKFILLED_PERIOD else 40.0
                copy.write_row(("binance", "BTCUSDT", "open_interest", at(end), at(end + late), 300, 1e4 + k))
                copy.write_row(
                    ("binance", "BTCUSDT", "long_short_ratio", at(end), at(end + 25.5), 300, 1 + k / 10)
                )
            for k, end in enumerate(range(900, seconds + 1, 900)):
                copy.write_row(("coinglass", "BTC", "oi_close", at(end), at(end + 61.25), 900, 5e9 + k))
        with cur.copy(
            "COPY predictions (symbol, ts, created_at, model, horizon_s, r_t, p_up, p_down, p_none)"
            " FROM STDIN"
        ) as copy:
            for s in range(1000, seconds, 15):
                copy.write_row(("BTCUSDT", at(s), at(s + 0.25), "baseline-v1", 120, 0.001, 0.3, 0.3, 0.4))
    return Synth(BASE, at(seconds), seconds)
