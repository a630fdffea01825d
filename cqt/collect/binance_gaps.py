"""Binance aggTrade holes: open a ledger entry, fetch the missing ids from REST, close the entry.

A fetch that keeps failing (REST down, banned) is retried with backoff for `give_up_s`; after that the
gap closes `unfillable` with whatever came back, so a hole is never left silently open. The venue keeps
aggTrades for about a year, so in practice only a long REST outage makes a hole unfillable.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cqt.collect.binance_backfill import agg_trades_range
from cqt.collect.binance_rest import BinanceRest, BinanceRestError
from cqt.collect.gap_ledger import Gap, GapLedger
from cqt.collect.id_gaps import IdGap
from cqt.collect.rows import MalformedFrame, Sink, ms_to_dt

log = logging.getLogger(__name__)


class BinanceGapFiller:
    """`on_gap` handler of `BinanceWsCollector`."""

    def __init__(
        self, client: BinanceRest, sink: Sink, ledger: GapLedger, *, give_up_s: float = 600.0
    ) -> None:
        self.client = client
        self.sink = sink
        self.ledger = ledger
        self.give_up_s = give_up_s
        self._tasks: set[asyncio.Task[None]] = set()

    def on_gap(self, symbol: str, hole: IdGap) -> None:
        """Record the hole and start filling it."""
        gap = Gap(
            "binance", symbol, "aggTrade", ms_to_dt(hole.start_ms), ms_to_dt(hole.end_ms),
            hole.from_id, hole.to_id,
            f"{hole.size} aggTrade ids missing" + (" since the previous run" if hole.resumed else ""),
        )  # fmt: skip
        self.ledger.open(gap)
        task = asyncio.create_task(self._fill(gap), name=f"binance-gap-{symbol}-{hole.from_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, gap: Gap) -> None:
        assert gap.from_id is not None and gap.to_id is not None
        deadline = time.monotonic() + self.give_up_s
        delay = 1.0
        while True:
            try:
                result = await agg_trades_range(self.client, gap.symbol, gap.from_id, gap.to_id)
            except MalformedFrame as exc:  # retrying gets the same answer
                log.error(
                    "binance gap %s %d..%d: malformed REST answer (%s)",
                    gap.symbol,
                    gap.from_id,
                    gap.to_id,
                    exc,
                )
                self.ledger.close(gap, 0, complete=False)
                return
            except BinanceRestError as exc:
                if time.monotonic() + delay > deadline:
                    log.error(
                        "binance gap %s %d..%d: giving up (%s)", gap.symbol, gap.from_id, gap.to_id, exc
                    )
                    self.ledger.close(gap, 0, complete=False)
                    return
                log.warning("binance gap %s: backfill failed (%s); retrying in %.0fs", gap.symbol, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            self.sink("trades", result.rows)
            self.ledger.close(gap, len(result.rows), result.complete)
            return

    @property
    def in_flight(self) -> int:
        """Holes being filled right now."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every fill in flight (shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
