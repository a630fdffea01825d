"""One status line per stream per minute in the log: messages, lag, reconnects, gaps, write latency.

A person tailing `logs/bot.log` sees at a glance whether every stream is flowing and keeping up,
without Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from cqt.collect.collection import Collection

log = logging.getLogger("cqt.bot.status")


class StatusLog:
    """Logs the status lines every `every_s` until `stop()`."""

    def __init__(self, collection: Collection, every_s: float = 60.0) -> None:
        self.col = collection
        self.every_s = every_s
        self._last: Counter[str] = Counter()
        self._stop = asyncio.Event()

    def lines(self) -> list[str]:
        """The status lines for now (message counts are also given as the change since the last call)."""
        now = time.time()
        out = []
        w = self.col.writer.metrics
        gaps = self.col.ledger.counts
        for exchange, coll in (("upbit", self.col.upbit), ("binance", self.col.binance)):
            if coll is None:
                continue
            for stream, n in sorted(coll.messages.items()):
                key = f"{exchange}/{stream}"
                delta, self._last[key] = n - self._last[key], n
                last = coll.last_event_ms.get(stream)
                lag = f"{now - last / 1000:.2f}s" if last is not None else "-"
                out.append(f"{key}: {n} msgs (+{delta}), lag {lag}, malformed {coll.malformed[stream]}")
            for s in coll.sessions:
                st = s.stats
                out.append(
                    f"{s.name} connection: connects {st.connects}, reconnects {st.reconnects}, stalls {st.stalls},"
                    f" rotations {st.rotations}"
                )
        out.append(
            f"gaps: opened {gaps.opened}, filled {gaps.filled}, unfillable {gaps.unfillable},"
            f" open now {len(self.col.ledger.open_gaps)}"
        )
        out.append(
            f"storage: {w.rows_inserted} rows inserted, last batch {w.last_batch_rows} rows in"
            f" {w.last_batch_latency_s * 1000:.0f} ms (max {w.max_batch_latency_s * 1000:.0f} ms), spool"
            f" {w.spool_depth} batches, db {'up' if w.connected else 'DOWN'}"
        )
        return out

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.every_s)
            except TimeoutError:
                for line in self.lines():
                    log.info("status %s", line)

    def stop(self) -> None:
        self._stop.set()
