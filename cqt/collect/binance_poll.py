"""Binance USDⓈ-M REST poller: open interest, premium, the 5-minute-style period series and funding history.

Three cadences per symbol: fast (`/fapi/v1/openInterest`, `/fapi/v1/premiumIndex?symbol=`), per period
(`/futures/data/{openInterestHist, globalLongShortAccountRatio, takerlongshortRatio, basis}`) and
funding (`/fapi/v1/fundingRate`, also at start). Every call goes through the shared weight-aware
`BinanceRest`. The first successful call of a series fetches `HISTORY` rows, later ones only the last
`REFRESH`: re-read periods are absorbed by the natural keys. Rows carry `ts` = period end (or the
venue's instant) and `recv_ts` = when the answer arrived. A failing endpoint is counted and logged
(at most once a minute per endpoint), and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cqt.collect import binance_parse as bp
from cqt.collect.binance_rest import BinanceRest, BinanceRestError
from cqt.collect.rows import MalformedFrame, Row, Sink
from cqt.collect.stopping import until_stopped

log = logging.getLogger(__name__)

HISTORY = 30
REFRESH = 3
LOG_EVERY_S = 60.0

Parse = Callable[[Any, datetime], list[Row]]


@dataclass(frozen=True)
class Call:
    """One REST series of one symbol. `endpoint` names it in counters and logs."""

    endpoint: str
    symbol: str
    path: str
    params: dict[str, str | int]
    weight: int
    parse: Parse
    limited: bool  # takes `limit`: HISTORY on the first success, REFRESH afterwards


class BinancePoller:
    """Polls every series of `symbols` through `client` into `sink("metrics", rows)` until `stop()`."""

    def __init__(
        self,
        client: BinanceRest,
        symbols: Sequence[str],
        sink: Sink,
        *,
        period: str = "5m",
        fast_every_s: float = 10.0,
        period_every_s: float = 60.0,
        funding_every_s: float = 3600.0,
    ) -> None:
        if period not in bp.PERIOD_S:
            raise ValueError(f"unknown Binance period {period!r}; expected one of {', '.join(bp.PERIOD_S)}")
        self.client = client
        self.symbols = list(symbols)
        self.sink = sink
        self.period = period
        self.every = {"fast": fast_every_s, "period": period_every_s, "funding": funding_every_s}
        self.ok: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._primed: set[tuple[str, str]] = set()
        self._logged_at: dict[str, float] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def calls(self, cadence: str) -> list[Call]:
        """The calls of one cadence ("fast", "period" or "funding") for every symbol."""
        out: list[Call] = []
        for s in self.symbols:
            sym: dict[str, str | int] = {"symbol": s}
            if cadence == "fast":
                out.append(Call("openInterest", s, "/fapi/v1/openInterest", sym, 1, bp.open_interest, False))
                out.append(Call("premiumIndex", s, "/fapi/v1/premiumIndex", sym, 1, bp.premium_index, False))
            elif cadence == "period":
                for endpoint in bp.PERIOD_SERIES:
                    q: dict[str, str | int] = (
                        {"pair": s, "contractType": "PERPETUAL"} if endpoint == "basis" else dict(sym)
                    )
                    q["period"] = self.period
                    parse = partial(bp.period_series, endpoint, s, self.period)
                    out.append(Call(endpoint, s, f"/futures/data/{endpoint}", q, 0, parse, True))
            elif cadence == "funding":
                out.append(Call("fundingRate", s, "/fapi/v1/fundingRate", sym, 1, bp.funding_history, True))
            else:
                raise ValueError(f"unknown cadence {cadence!r}")
        return out

    async def run(self) -> None:
        """Poll until `stop()`; a call in flight (a slow answer, a retry's backoff, a ban's wait) is
        cancelled at stop, so the poller stops at once."""
        await until_stopped(self._stop, *(self._every(cadence) for cadence in self.every))

    async def _every(self, cadence: str) -> None:
        while True:
            started = time.monotonic()
            await self.poll(cadence)
            await asyncio.sleep(max(0.0, self.every[cadence] - (time.monotonic() - started)))

    async def poll(self, cadence: str) -> None:
        """Every call of `cadence` once, concurrently (the client paces them)."""
        await asyncio.gather(*(self._call(call) for call in self.calls(cadence)))

    async def _call(self, call: Call) -> None:
        key = (call.endpoint, call.symbol)
        params = dict(call.params)
        if call.limited:
            params["limit"] = REFRESH if key in self._primed else HISTORY
        try:
            body = await self.client.get_json(call.path, params, call.weight)
            rows = call.parse(body, datetime.now(UTC))
        except (BinanceRestError, MalformedFrame) as exc:
            self._failed(call, exc)
            return
        except Exception as exc:  # a bug must not end the polling of every other series
            self._failed(call, exc, unexpected=True)
            return
        self._primed.add(key)
        self.ok[call.endpoint] += 1
        self.sink("metrics", rows)

    def _failed(self, call: Call, exc: Exception, *, unexpected: bool = False) -> None:
        self.failures[call.endpoint] += 1
        now = time.monotonic()
        if now - self._logged_at.get(call.endpoint, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[call.endpoint] = now
            log.warning(
                "binance %s %s failed (%d failures so far): %s",
                call.endpoint,
                call.symbol,
                self.failures[call.endpoint],
                exc,
                exc_info=unexpected,
            )
