"""Binance aggTrade id continuity: turn holes in the `a` sequence into gap-ledger entries.

Ids are contiguous per symbol. Frames can arrive duplicated or slightly reordered, so a hole is first
*pending*: ids that arrive within `grace_ms` (by arrival clock) close it again. A hole still open after
the grace period is *confirmed*: the caller writes it to the gap ledger and the backfiller fetches the
ids from REST (`fromId`). Duplicates (an id already seen) are reported so they can be counted.
The tracker is kept across reconnects: the first id after a reconnect reveals what the outage lost.
Across runs, `resume_after` seeds it with the newest id an earlier run stored: the first id this run
observes then reveals what lay between the runs, as an ordinary hole (marked `resumed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IdGap:
    """Missing ids `from_id..to_id` (inclusive) between trades at `start_ms` and `end_ms` (event times)."""

    from_id: int
    to_id: int
    start_ms: int
    end_ms: int
    resumed: bool = False  # the hole lies between an earlier run's newest stored id and this run's first

    @property
    def size(self) -> int:
        return self.to_id - self.from_id + 1


@dataclass
class _Hole:
    from_id: int
    to_id: int
    start_ms: int
    end_ms: int
    seen_at_ms: int
    resumed: bool = False
    filled: set[int] = field(default_factory=set)


class IdContinuity:
    """Tracks one symbol's aggTrade ids."""

    def __init__(self, grace_ms: int = 2_000) -> None:
        self.grace_ms = grace_ms
        self.last_id: int | None = None
        self.last_ts_ms: int | None = None
        self._holes: list[_Hole] = []
        self._resume: tuple[int, int] | None = None
        self.duplicates = 0

    def resume_after(self, agg_id: int, event_ms: int) -> None:
        """An earlier run stored ids up to `agg_id` (event time `event_ms`): the ids between it and the first
        one observed are a hole. A first id at or below it means the runs overlap and nothing lies between;
        its frames are then handled as this run's first, never dropped as duplicates of stored ids."""
        if self.last_id is None:
            self._resume = (agg_id, event_ms)

    def observe(self, agg_id: int, event_ms: int, now_ms: int) -> bool:
        """Record one id; False when it is a duplicate of an id already seen."""
        if self.last_id is None:
            if self._resume is not None and agg_id > self._resume[0] + 1:
                stored_id, stored_ms = self._resume
                self._holes.append(
                    _Hole(stored_id + 1, agg_id - 1, stored_ms, event_ms, now_ms, resumed=True)
                )
            self._resume = None
            self.last_id, self.last_ts_ms = agg_id, event_ms
            return True
        if agg_id > self.last_id:
            if agg_id > self.last_id + 1:
                assert self.last_ts_ms is not None
                self._holes.append(_Hole(self.last_id + 1, agg_id - 1, self.last_ts_ms, event_ms, now_ms))
            self.last_id, self.last_ts_ms = agg_id, event_ms
            return True
        for hole in self._holes:
            if hole.from_id <= agg_id <= hole.to_id and agg_id not in hole.filled:
                hole.filled.add(agg_id)
                return True
        self.duplicates += 1
        return False

    def confirmed(self, now_ms: int) -> list[IdGap]:
        """Holes older than the grace period that late frames did not fill, as contiguous gaps."""
        out: list[IdGap] = []
        keep: list[_Hole] = []
        for hole in self._holes:
            if len(hole.filled) == hole.to_id - hole.from_id + 1:
                continue
            if now_ms - hole.seen_at_ms < self.grace_ms:
                keep.append(hole)
                continue
            cursor = hole.from_id
            for got in sorted(hole.filled):
                if got > cursor:
                    out.append(IdGap(cursor, got - 1, hole.start_ms, hole.end_ms, hole.resumed))
                cursor = got + 1
            if cursor <= hole.to_id:
                out.append(IdGap(cursor, hole.to_id, hole.start_ms, hole.end_ms, hole.resumed))
        self._holes = keep
        return out

    @property
    def pending(self) -> int:
        """Ids currently missing but still within the grace period."""
        return sum(h.to_id - h.from_id + 1 - len(h.filled) for h in self._holes)
