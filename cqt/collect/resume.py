"""Where the previous run stopped: the newest stored trade of each shard, so a run's first trade reveals
what was lost between the runs (docs/design.md §5.3).

Binance: the newest stored aggregate id `a` (and its time) seeds the id tracker, so the first frame's jump
is an ordinary hole filled by id. Upbit: ids carry no order, so the newest stored trade time opens the span
up to the first streamed trade, as a reconnect does. Either gap starts no later than the end of the
previous run's newest stored bar: a killed run stored trades its aggregator had not yet made bars of
(the last grace seconds), so the repair of the gap must rebuild those seconds too.

Gaps an earlier run opened and never closed (it was killed, or its shutdown deadline cancelled the fill)
are filled again by this run (`left_open`), within the same look-back.

The newest stored row is read after the previous run's spool was replayed (`Collection.start` flushes
the writer first); if PostgreSQL went away meanwhile, the trades still in the spool count as stored too.

The look-back is bounded by `max_age_s` (`Tuning.resume_max_age_s`, 6 h): an older previous trade is
not chased, its span stays missing (docs/design.md §3.3) and a warning says so. 6 h is what every REST
source still serves (the simulator keeps 6 h of history, `SimConfig.ledger_retention_s`; Upbit serves
7 days, Binance aggTrades far longer), and it bounds the start-up cost: a few minutes of Binance REST
weight and one bar repair of at most 6 h per symbol, instead of a backfill job run at every start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from cqt.collect.gap_ledger import Gap
from cqt.store.spool import Spool

log = logging.getLogger(__name__)

Shard = tuple[str, str]  # (exchange, symbol)

# Binance orders by id (contiguous per symbol); Upbit ids carry no order, so by time.
_NEWEST = {
    "binance": "SELECT trade_id, ts FROM trades WHERE exchange = 'binance' AND symbol = %s"
    " ORDER BY trade_id DESC LIMIT 1",
    "upbit": "SELECT trade_id, ts FROM trades WHERE exchange = 'upbit' AND symbol = %s"
    " ORDER BY ts DESC, trade_id DESC LIMIT 1",
}


_NEWEST_BAR = "SELECT max(ts) FROM market_1s WHERE exchange = %s AND symbol = %s"
_LEFT_OPEN = (
    "SELECT exchange, symbol, stream, start_ts, end_ts, from_id, to_id, reason FROM gaps"
    " WHERE status = 'open' AND exchange = %s AND symbol = %s AND end_ts >= %s ORDER BY start_ts"
)


@dataclass(frozen=True)
class Newest:
    """The newest trade an earlier run stored for one shard, and the end of its newest stored bar."""

    trade_id: int
    ts: datetime
    bar_ts: datetime | None = None

    @property
    def gap_start(self) -> datetime:
        """Where the span this run must fill begins: the newest trade, or the newest bar's end if earlier."""
        return self.ts if self.bar_ts is None else min(self.ts, self.bar_ts)

    def newer_than(self, other: Newest | None, exchange: str) -> bool:
        if other is None:
            return True
        return self.trade_id > other.trade_id if exchange == "binance" else self.ts > other.ts


def stored_newest(conninfo: str, shards: Iterable[Shard]) -> dict[Shard, Newest]:
    """The newest stored trade of each shard that has one (blocking: run it in a thread)."""
    found: dict[Shard, Newest] = {}
    with psycopg.connect(conninfo) as conn:
        for exchange, symbol in shards:
            row = conn.execute(_NEWEST[exchange], (symbol,)).fetchone()
            if row is not None:
                bar = conn.execute(_NEWEST_BAR, (exchange, symbol)).fetchone()
                found[(exchange, symbol)] = Newest(int(row[0]), row[1], None if bar is None else bar[0])
    return found


def with_spooled(found: dict[Shard, Newest], spool: Spool, shards: Iterable[Shard]) -> dict[Shard, Newest]:
    """`found` with the trades still waiting in `spool` counted as stored (blocking: run it in a thread)."""
    wanted, out = set(shards), dict(found)
    bars: dict[Shard, datetime] = {}
    for batch in spool.batches():
        for row in batch.tables.get("trades", []):
            shard = (str(row[0]), str(row[1]))
            candidate = Newest(int(row[2]), row[3])
            if shard in wanted and candidate.newer_than(out.get(shard), shard[0]):
                out[shard] = candidate
        for row in batch.tables.get("market_1s", []):
            shard = (str(row[0]), str(row[1]))
            if shard not in bars or row[2] > bars[shard]:
                bars[shard] = row[2]
    for shard, newest in out.items():
        stored_bar = found[shard].bar_ts if shard in found else None
        bar_ts = max((b for b in (stored_bar, bars.get(shard)) if b is not None), default=None)
        out[shard] = Newest(newest.trade_id, newest.ts, bar_ts)
    return out


def within_reach(found: dict[Shard, Newest], max_age_s: float) -> dict[Shard, Newest]:
    """The shards whose previous trade is young enough to fill from REST; the others are logged."""
    horizon = datetime.now(UTC) - timedelta(seconds=max_age_s)
    kept: dict[Shard, Newest] = {}
    for shard, newest in found.items():
        if newest.ts >= horizon:
            kept[shard] = newest
        else:
            log.warning(
                "%s %s: the previous run's newest trade (%s) is older than %.0f s; the span up to this run"
                " is not backfilled and stays missing",
                *shard, newest.ts.isoformat(), max_age_s,
            )  # fmt: skip
    for (exchange, symbol), newest in kept.items():
        log.info(
            "%s %s: the previous run stored up to trade %d at %s (bars to %s); what lies between is a gap",
            exchange, symbol, newest.trade_id, newest.ts.isoformat(),
            "none" if newest.bar_ts is None else newest.bar_ts.isoformat(),
        )  # fmt: skip
    return kept


def left_open(conninfo: str, shards: Iterable[Shard], max_age_s: float) -> list[Gap]:
    """Gaps of these shards that earlier runs left `open` and that end within the look-back (blocking);
    read when no spooled batch is left, since one may hold their closing rows."""
    horizon = datetime.now(UTC) - timedelta(seconds=max_age_s)
    gaps: list[Gap] = []
    with psycopg.connect(conninfo) as conn:
        for exchange, symbol in shards:
            for x, sym, stream, start, end, from_id, to_id, reason in conn.execute(
                _LEFT_OPEN, (exchange, symbol, horizon)
            ):
                gaps.append(Gap(x, sym, stream, start, end, from_id, to_id, reason or ""))
    for gap in gaps:
        log.warning(
            "%s %s %s %s .. %s: left open by an earlier run; filling it",
            gap.exchange, gap.symbol, gap.stream, gap.start.isoformat(), gap.end.isoformat(),
        )  # fmt: skip
    return gaps
