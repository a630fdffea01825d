"""The gap ledger: every detected hole in a stream is opened, then closed as filled or unfillable.

Rows go through the storage writer (`sink("gaps", rows)`), so a gap detected while PostgreSQL is away is
spooled with the data around it. The writer keeps the highest `revision` per natural key (exchange,
symbol, stream, start_ts, end_ts): 0 = open, 1 = closed, so replaying an "open" row never reopens a gap.

Listeners registered with `on_close` learn about every closed gap; the bar pipeline uses this to rebuild
the bars the gap touched (and to flag them `gap = true` when the hole could not be filled).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cqt.collect.rows import Row, Sink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gap:
    """A hole: trades in `[start, end]` (event time) may be missing; ids `from_id..to_id` if known."""

    exchange: str
    symbol: str
    stream: str
    start: datetime
    end: datetime
    from_id: int | None = None
    to_id: int | None = None
    reason: str = ""


@dataclass
class GapCounts:
    """What the ledger has seen since start (exported as metrics)."""

    opened: int = 0
    filled: int = 0
    unfillable: int = 0
    rows_filled: int = 0


CloseListener = Callable[[Gap, bool], None]


class GapLedger:
    """Opens and closes gap-ledger rows and tells listeners about closed gaps."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.counts = GapCounts()
        self._open: dict[Gap, datetime] = {}
        self._listeners: list[CloseListener] = []

    def on_close(self, listener: CloseListener) -> None:
        """Call `listener(gap, filled)` for every gap closed from now on."""
        self._listeners.append(listener)

    @property
    def open_gaps(self) -> list[Gap]:
        """Gaps opened and not closed yet."""
        return list(self._open)

    def open(self, gap: Gap) -> None:
        """Record a newly detected hole (status `open`)."""
        if gap in self._open:
            return
        opened_at = datetime.now(UTC)
        self._open[gap] = opened_at
        self.counts.opened += 1
        log.warning(
            "gap opened: %s %s %s %s .. %s%s (%s)", gap.exchange, gap.symbol, gap.stream,
            gap.start.isoformat(), gap.end.isoformat(), _ids(gap), gap.reason,
        )  # fmt: skip
        self.sink("gaps", [self._row(gap, "open", opened_at, None, 0, 0)])

    def close(self, gap: Gap, filled_count: int, complete: bool) -> None:
        """Close a gap: `filled` when every missing trade came back from REST, else `unfillable`."""
        opened_at = self._open.pop(gap, None) or datetime.now(UTC)
        status = "filled" if complete else "unfillable"
        self.counts.rows_filled += filled_count
        if complete:
            self.counts.filled += 1
        else:
            self.counts.unfillable += 1
        log_at = logging.INFO if complete else logging.ERROR
        log.log(
            log_at, "gap %s: %s %s %s %s .. %s%s, %d rows recovered", status, gap.exchange, gap.symbol,
            gap.stream, gap.start.isoformat(), gap.end.isoformat(), _ids(gap), filled_count,
        )  # fmt: skip
        self.sink("gaps", [self._row(gap, status, opened_at, datetime.now(UTC), filled_count, 1)])
        for listener in self._listeners:
            listener(gap, complete)

    @staticmethod
    def _row(
        gap: Gap, status: str, opened_at: datetime, closed_at: datetime | None, filled: int, revision: int
    ) -> Row:
        return (
            gap.exchange, gap.symbol, gap.stream, gap.start, gap.end, gap.from_id, gap.to_id, status,
            gap.reason, opened_at, closed_at, filled, revision,
        )  # fmt: skip


def _ids(gap: Gap) -> str:
    return "" if gap.from_id is None else f" ids {gap.from_id}..{gap.to_id}"
