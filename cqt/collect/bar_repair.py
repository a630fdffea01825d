"""Rebuild the bars a closed gap touched, from the stored trades.

A gap filled from REST brings trades that may reach their bars after the live aggregator made them final;
an unfillable gap must flag its bars `gap = true`. Either way the bars the gap touched are rebuilt by the
batch kernel (`cqt.bars_rebuild`) once (a) the live aggregator can no longer revise them (watermark past
the range plus the lateness window), so the two never race, and (b) the writer has committed everything
put before the gap closed (a flush with an empty spool), so the rebuild reads the filled trades.
A rebuild that fails because PostgreSQL is away stays queued and is retried.

A run's boundary bars the collector did not cover whole stay flagged (`BarFeed`, docs/design.md §3.3): a
repair leaves them out, unless its gap began before the run's first event (the gap since the previous
run), whose fill covered what the collector missed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import psycopg

from cqt.bars_rebuild import rebuild_range
from cqt.collect.bar_feed import BarFeed
from cqt.collect.gap_ledger import Gap
from cqt.collect.rows import dt_to_ms, ms_to_dt
from cqt.store.writer import FlushTimeout, Writer

log = logging.getLogger(__name__)

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Repair:
    """Bars `[first_bar, last_bar]` of one symbol to rebuild."""

    exchange: str
    symbol: str
    first_bar: datetime
    last_bar: datetime
    gap_start: datetime | None = None  # where the gap that touched them began


def touched_bars(gap: Gap) -> Repair:
    """The bars whose interval `[ts - 1 s, ts)` meets the gap's `[start, end]`."""
    first = ms_to_dt(dt_to_ms(gap.start) // 1000 * 1000) + _SECOND
    last = ms_to_dt(dt_to_ms(gap.end) // 1000 * 1000) + _SECOND
    return Repair(gap.exchange, gap.symbol, first, last, gap.start)


class BarRepair:
    """Queue of bar ranges to rebuild, worked off in the background."""

    def __init__(self, conninfo: str, feed: BarFeed, writer: Writer, *, every_s: float = 0.5) -> None:
        self.conninfo = conninfo
        self.feed = feed
        self.writer = writer
        self.every_s = every_s
        self.pending: list[Repair] = []
        self.rebuilt_bars = 0
        self.repairs_done = 0
        self._stop = asyncio.Event()

    def schedule(self, gap: Gap, filled: bool) -> None:
        """GapLedger close listener."""
        self.pending.append(touched_bars(gap))

    def _covered(self, repair: Repair) -> Repair | None:
        """`repair` without the boundary bars the collector did not cover whole; None if nothing is left."""
        first, last = self.feed.covered_bars(repair.exchange)
        first_event = self.feed.first_event_ms(repair.exchange)
        # judged when the repair runs: a gap may close before the feed saw the run's first rows
        before_run = (
            repair.gap_start is not None
            and first_event is not None
            and dt_to_ms(repair.gap_start) < first_event
        )
        lo, hi = repair.first_bar, repair.last_bar
        if first is not None and not before_run:
            lo = max(lo, ms_to_dt(first))
        if last is not None:
            hi = min(hi, ms_to_dt(last))
        return replace(repair, first_bar=lo, last_bar=hi) if lo <= hi else None

    def _final(self, repair: Repair) -> bool:
        watermark = self.feed.watermark_ms(repair.exchange)
        return watermark is not None and watermark - self.feed.lateness_ms >= dt_to_ms(repair.last_bar)

    async def work(self, *, all_pending: bool = False) -> None:
        """Rebuild the ranges that are ready (every pending one when `all_pending`, at shutdown)."""
        ready = [r for r in self.pending if all_pending or self._final(r)]
        if not ready:
            return
        try:
            await self.writer.flush()
        except FlushTimeout as exc:  # PostgreSQL slow or hung: the repairs wait, shutdown goes on
            log.warning("bar repair postponed: %s", exc)
            return
        if self.writer.metrics.spool_depth or self.writer.backlog_rows:
            return  # the filled trades are not all committed yet
        for repair in ready:
            bounded = self._covered(repair)
            try:
                rows = 0 if bounded is None else await asyncio.to_thread(self._rebuild, bounded)
            except psycopg.OperationalError as exc:
                log.warning("bar repair postponed, PostgreSQL unavailable: %s", str(exc).splitlines()[0])
                return
            self.pending.remove(repair)
            self.rebuilt_bars += rows
            self.repairs_done += 1
            log.info(
                "rebuilt %d bars %s %s %s .. %s", rows, repair.exchange, repair.symbol,
                repair.first_bar.isoformat(), repair.last_bar.isoformat(),
            )  # fmt: skip

    def _rebuild(self, repair: Repair) -> int:
        with psycopg.connect(self.conninfo) as conn:
            return rebuild_range(conn, repair.exchange, repair.symbol, repair.first_bar, repair.last_bar)

    async def run(self) -> None:
        """Work the queue every `every_s` until `stop()`."""
        while not self._stop.is_set():
            await self.work()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.every_s)
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Ask `run()` to return (call `work(all_pending=True)` after the final flush)."""
        self._stop.set()
