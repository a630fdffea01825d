"""Predict every `every_s` seconds on the bar grid, and settle what has come due.

The loop wakes at each grid instant `t0` (a multiple of `every_s` on the wall clock, which is the clock
`recv_ts` is stamped with) and predicts as of `t0`: the features read only rows with `ts <= t0` and
`recv_ts <= t0` (docs/design.md §2), so the prediction is exactly what could have been known then, typically
from a bar a few seconds old (the bar ending at `t0` is still open for late trades). A cycle that ran
late still predicts as of its grid instant; one more than `max_catch_up` instants behind skips ahead
(logged) instead of stacking work.

Warm-up: a symbol is not predicted until its bars hold the `min_returns` one-second returns the volatility
estimate needs (the predictor could only return nothing); until then each cycle logs that it is warming up
and about how many seconds remain (one return per second of bars). Once ready it stays with the predictor,
which explains any later miss itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from cqt.bot.metrics import PredictionProbe
from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.labels import DynamicThreshold
from cqt.predict.features import BINANCE
from cqt.predict.pit import load_bars
from cqt.predict.predictor import decision_times, predict, write_predictions
from cqt.predict.settle import settle

log = logging.getLogger(__name__)


class PredictionLoop:
    """The predictor and the settler of the bot."""

    def __init__(
        self,
        conninfo: str,
        symbols: Sequence[str],
        upbit_markets: Mapping[str, str],
        probe: PredictionProbe,
        *,
        every_s: int = 5,
        horizon_s: int = 120,
        threshold: DynamicThreshold | None = None,
        max_catch_up: int = 3,
    ) -> None:
        self.conninfo = conninfo
        self.symbols = list(symbols)
        self.upbit_markets = dict(upbit_markets)
        self.probe = probe
        self.every_s = every_s
        self.horizon_s = horizon_s
        self.threshold = threshold
        self.max_catch_up = max_catch_up
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = asyncio.Event()
        self._warming = set(self.symbols)

    async def run(self) -> None:
        """Until `stop()`: sleep to the next grid instant, predict as of every instant due, settle."""
        done = decision_times(_now(), self.every_s)[-1]  # start with the next instant, not a past one
        try:
            while not self._stop.is_set():
                delay = (dt_to_ms(done) + self.every_s * 1000) / 1000 - time.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                        break
                    except TimeoutError:
                        pass
                due = decision_times(_now(), self.every_s, after=done)
                if len(due) > self.max_catch_up:
                    log.warning("prediction loop %d grid steps behind; skipping to now", len(due) - 1)
                    due = due[-1:]
                for t0 in due:
                    await asyncio.to_thread(self._cycle, t0)
                    done = t0
        finally:
            await asyncio.to_thread(self._close)

    def _cycle(self, t0: datetime) -> None:
        conn = self._connection()
        ready = [s for s in self.symbols if s not in self._warming or self._warmed_up(conn, s, t0)]
        preds = predict(
            conn, ready, t0, horizon_s=self.horizon_s, threshold=self.threshold,
            upbit_markets=self.upbit_markets,
        )  # fmt: skip
        written = write_predictions(conn, preds)
        self.probe.predictions += written
        if preds:
            self.probe.last_t0 = t0
        self.probe.settled += settle(conn, _now())

    def _warmed_up(self, conn: psycopg.Connection[Any], symbol: str, t0: datetime) -> bool:
        thr = self.threshold or DynamicThreshold()
        bars = load_bars(conn, BINANCE, symbol, t0 - timedelta(seconds=thr.window_s), t0, t0)
        # An upper bound of the kernel's count (it also needs adjacent seconds), so skipping loses nothing.
        returns = max(0, int(np.count_nonzero(~bars.gap)) - 1)
        if returns >= thr.min_returns:
            self._warming.discard(symbol)
            log.info("warm-up over for %s: %d one-second returns, predicting", symbol, returns)
            return True
        have = (
            f"{returns} of the {thr.min_returns}"
            if len(bars.ts)
            else f"no bars yet for the {thr.min_returns}"
        )
        log.info(
            "warm-up: no prediction for %s at %s yet, %s one-second returns the volatility estimate needs;"
            " ready in about %d s",
            symbol,
            t0.isoformat(),
            have,
            thr.min_returns - returns,
        )
        return False

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        self._stop.set()


def _now() -> datetime:
    return ms_to_dt(time.time_ns() // 1_000_000)
