"""Live one-second bars: collected trades and quotes go through the Rust streaming aggregator and the
bars it closes (or revises) go to `market_1s`.

`BarFeed.tee(sink)` wraps the writer's `put`: every row is written as before, and trades and best
bid/ask quotes are also buffered for the aggregator (one per exchange, since venues' clocks differ).
Buffers are pushed to Rust in batches (`push_every_s`), not per frame, so the per-call overhead stays
off the hot path. Trades are de-duplicated by natural key over a trailing window before they reach the
aggregator: the writer's ON CONFLICT absorbs a duplicate row, but a bar would count it twice.

Bars are clocked by exchange event time (docs/design.md §3): the watermark trails the newest event by
`grace_ms`; a bar may still be revised by events up to `lateness_ms` behind the watermark (rows are
re-emitted with a higher `revision`, which the writer's upsert keeps). Anything later is counted in
`late_dropped` and repaired by `BarRepair` from the stored trades.

A run's boundary bars are flagged `gap = true` when the collector did not cover their whole second
(docs/design.md §3.3): gap means "not covered" to labels and features, and the schema has no other flag.
- start: a bar whose second began before the venue's first row arrived (its `recv_ts`, local clock): the
  collector was not listening yet, or had nothing to show for it, which cannot be told apart. This is
  the run's first bar, and any bar an Upbit SNAPSHOT trade from before the connection starts earlier.
- stop: after `stop_listening(exchange)`, a bar whose second ends after the last instant the collector
  heard, in exchange time: the newest event plus the time that passed between its arrival and the stop.
  Both rules compare exchange times with exchange times plus local durations, so clock offsets cancel.
A gap that later fills the span (the next run's resume gap, docs/design.md §5.3) repairs such a bar
from the stored trades into a full one: REST then covered what the collector missed.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from cqt.bars import Columns, Quotes, StreamAggregator
from cqt.collect.rows import Row, Sink, dt_to_ms, ms_to_dt

# market_1s columns after (exchange, symbol, ts, recv_ts), with the kernel column that fills each.
_BAR_COLUMNS = (
    ("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"), ("volume", "volume"),
    ("notional", "notional"), ("vwap", "vwap"), ("buy_volume", "buy_volume"), ("sell_volume", "sell_volume"),
    ("n_trades", "n_trades"), ("first_trade_ts", "first_trade_ts"), ("last_trade_ts", "last_trade_ts"),
    ("bid_open", "bid_open"), ("bid_high", "bid_high"), ("bid_low", "bid_low"), ("bid_close", "bid_close"),
    ("ask_open", "ask_open"), ("ask_high", "ask_high"), ("ask_low", "ask_low"), ("ask_close", "ask_close"),
    ("spread_bps", "spread_bps"), ("mid_close", "mid"), ("imbalance", "imbalance"), ("stale", "stale"),
    ("gap", "gap"),
)  # fmt: skip
_TIME_COLUMNS = {"first_trade_ts", "last_trade_ts"}


def bar_rows(exchange: str, names: list[str], cols: Columns, recv_ts: datetime) -> list[Row]:
    """Kernel output -> market_1s rows (NaN and the -1 time sentinel become NULL)."""
    n = len(cols["ts"])
    if n == 0:
        return []
    lists = {src: cols[src].tolist() for _, src in _BAR_COLUMNS}
    symbols = cols["symbol"].tolist()
    ts = cols["ts"].tolist()
    revision = cols["revision"].tolist() if "revision" in cols else [0] * n
    rows: list[Row] = []
    for i in range(n):
        values: list[object] = [exchange, names[symbols[i]], ms_to_dt(ts[i]), recv_ts]
        for dst, src in _BAR_COLUMNS:
            v = lists[src][i]
            if dst in _TIME_COLUMNS:
                values.append(None if v < 0 else ms_to_dt(v))
            elif isinstance(v, float) and math.isnan(v):
                values.append(None)
            else:
                values.append(v)
        values.append(revision[i])
        rows.append(tuple(values))
    return rows


@dataclass
class _Venue:
    """One exchange's aggregator, symbol ids and pending input."""

    agg: StreamAggregator
    ids: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    trades: list[Row] = field(default_factory=list)
    quotes: list[Row] = field(default_factory=list)
    seen: dict[str, set[int]] = field(default_factory=dict)
    seen_order: deque[tuple[int, str, int]] = field(default_factory=deque)
    first_recv: dict[str, datetime] = field(default_factory=dict)  # table -> recv_ts of its first row
    first_event_ms: int | None = None  # event time of the earliest row of the first pushed batch
    newest: tuple[int, datetime] | None = None  # newest event time (ms) and its recv_ts
    stopped_at: datetime | None = None  # when the collector stopped listening (local clock)

    def note_arrivals(self, table: str, ts_ms: np.ndarray, rows: list[Row]) -> None:
        """Remember what the boundary rules need from one pushed batch."""
        self.first_recv.setdefault(table, min(r[4] for r in rows))
        if self.first_event_ms is None:
            self.first_event_ms = int(ts_ms.min())
        i = int(ts_ms.argmax())
        if self.newest is None or int(ts_ms[i]) > self.newest[0]:
            self.newest = (int(ts_ms[i]), rows[i][4])

    def covered(self) -> tuple[int | None, int | None]:
        """The first and the last bar end (ms) whose second the collector covered whole; None while a
        side is open (nothing received yet, not stopped yet)."""
        first = last = None
        if self.first_recv:
            since = dt_to_ms(max(self.first_recv.values()))
            first = -(-since // 1000) * 1000 + 1000
        if self.stopped_at is not None and self.newest is not None:
            heard_until = self.newest[0] + dt_to_ms(self.stopped_at) - dt_to_ms(self.newest[1])
            last = heard_until // 1000 * 1000
        return first, last

    def partial(self, ts: np.ndarray) -> np.ndarray:
        """Which bars `ts` (ends, ms) the collector did not cover whole."""
        first, last = self.covered()
        out = np.zeros(len(ts), dtype=np.bool_)
        if first is not None:
            out |= ts < first
        if last is not None:
            out |= ts > last
        return out

    def symbol_id(self, symbol: str) -> int:
        sid = self.ids.get(symbol)
        if sid is None:
            sid = self.ids[symbol] = len(self.names)
            self.names.append(symbol)
        return sid


@dataclass
class BarFeedStats:
    """Counters exported as metrics."""

    trades_in: int = 0
    duplicates: int = 0
    bars_out: int = 0
    revisions_out: int = 0


class BarFeed:
    """Streams collected rows into one-second bars written to `market_1s`."""

    def __init__(
        self,
        sink: Sink,
        *,
        grace_ms: int = 2_000,
        lateness_ms: int = 30_000,
        push_every_s: float = 0.1,
        dedup_window_ms: int = 15 * 60_000,
    ) -> None:
        self.sink = sink
        self.grace_ms = grace_ms
        self.lateness_ms = lateness_ms
        self.push_every_s = push_every_s
        self.dedup_window_ms = dedup_window_ms
        self.stats = BarFeedStats()
        self.venues: dict[str, _Venue] = {}
        self.last_bar_ts: dict[tuple[str, str], datetime] = {}
        self._stop = asyncio.Event()

    def tee(self, sink: Sink) -> Sink:
        """A sink that writes through `sink` and also feeds trades and quotes to the bars."""

        def put(table: str, rows: list[Row]) -> None:
            sink(table, rows)
            if table == "trades":
                self.add_trades(rows)
            elif table == "quotes":
                self.add_quotes(rows)

        return put

    def _venue(self, exchange: str) -> _Venue:
        venue = self.venues.get(exchange)
        if venue is None:
            venue = self.venues[exchange] = _Venue(StreamAggregator(self.grace_ms, self.lateness_ms, True))
        return venue

    def add_trades(self, rows: list[Row]) -> None:
        """Buffer trades rows (exchange, symbol, trade_id, ts, recv_ts, price, qty, side)."""
        for row in rows:
            venue = self._venue(row[0])
            seen = venue.seen.setdefault(row[1], set())
            if row[2] in seen:
                self.stats.duplicates += 1
                continue
            seen.add(row[2])
            ts_ms = dt_to_ms(row[3])
            venue.seen_order.append((ts_ms, row[1], row[2]))
            venue.trades.append(row)
            self.stats.trades_in += 1

    def add_quotes(self, rows: list[Row]) -> None:
        """Buffer quotes rows (exchange, symbol, seq, ts, recv_ts, bid, bid_qty, ask, ask_qty)."""
        for row in rows:
            self._venue(row[0]).quotes.append(row)

    def push(self) -> None:
        """Hand buffered rows to the aggregators and write the bars they close."""
        for exchange, venue in self.venues.items():
            recv = datetime.now(UTC)
            if venue.quotes:
                q, venue.quotes = venue.quotes, []
                q_ts = np.fromiter((dt_to_ms(r[3]) for r in q), np.int64, len(q))
                venue.note_arrivals("quotes", q_ts, q)
                quotes = Quotes(
                    np.fromiter((venue.symbol_id(r[1]) for r in q), np.uint32, len(q)),
                    q_ts,
                    np.fromiter((r[5] for r in q), np.float64, len(q)),
                    np.fromiter((r[6] for r in q), np.float64, len(q)),
                    np.fromiter((r[7] for r in q), np.float64, len(q)),
                    np.fromiter((r[8] for r in q), np.float64, len(q)),
                )
                self._emit(exchange, venue, venue.agg.push_quotes(quotes), recv)
            if venue.trades:
                t, venue.trades = venue.trades, []
                t_ts = np.fromiter((dt_to_ms(r[3]) for r in t), np.int64, len(t))
                venue.note_arrivals("trades", t_ts, t)
                out = venue.agg.push_trades(
                    t_ts,
                    np.fromiter((r[5] for r in t), np.float64, len(t)),
                    np.fromiter((r[6] for r in t), np.float64, len(t)),
                    np.fromiter((r[7] > 0 for r in t), np.bool_, len(t)),
                    symbol=np.fromiter((venue.symbol_id(r[1]) for r in t), np.uint32, len(t)),
                )
                self._emit(exchange, venue, out, recv)
            self._forget_old_ids(venue)

    def flush(self) -> None:
        """End of stream: push what is buffered and close every open bar."""
        self.push()
        for exchange, venue in self.venues.items():
            self._emit(exchange, venue, venue.agg.flush(), datetime.now(UTC))

    def stop_listening(self, exchange: str, at: datetime | None = None) -> None:
        """The collector of `exchange` stops (now, or `at`): the bars it no longer covers whole are flagged."""
        self._venue(exchange).stopped_at = at or datetime.now(UTC)

    def covered_bars(self, exchange: str) -> tuple[int | None, int | None]:
        """The first and the last bar end (ms) the collector of `exchange` covered whole (None: open)."""
        venue = self.venues.get(exchange)
        return (None, None) if venue is None else venue.covered()

    def first_event_ms(self, exchange: str) -> int | None:
        """The earliest event time of the first rows this run received from `exchange`."""
        venue = self.venues.get(exchange)
        return None if venue is None else venue.first_event_ms

    def watermark_ms(self, exchange: str) -> int | None:
        """The exchange aggregator's watermark (event time), None before its first event."""
        venue = self.venues.get(exchange)
        return None if venue is None else venue.agg.watermark

    @property
    def late_dropped(self) -> int:
        """Trades that reached a bar already final (repaired later from stored trades)."""
        return sum(v.agg.late_dropped for v in self.venues.values())

    async def run(self) -> None:
        """Push every `push_every_s` until `stop()`; the owner calls `flush()` once intake has ended."""
        while not self._stop.is_set():
            self.push()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.push_every_s)
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Ask `run()` to return."""
        self._stop.set()

    def _emit(self, exchange: str, venue: _Venue, cols: Columns, recv: datetime) -> None:
        partial = venue.partial(np.asarray(cols["ts"], dtype=np.int64))
        if partial.any():
            cols = {**cols, "gap": np.logical_or(cols["gap"], partial)}
        rows = bar_rows(exchange, venue.names, cols, recv)
        if not rows:
            return
        self.stats.bars_out += len(rows)
        self.stats.revisions_out += int(np.count_nonzero(cols["revision"]))
        for row in rows:
            key = (exchange, row[1])
            if key not in self.last_bar_ts or row[2] > self.last_bar_ts[key]:
                self.last_bar_ts[key] = row[2]
        self.sink("market_1s", rows)

    def _forget_old_ids(self, venue: _Venue) -> None:
        newest = venue.agg.watermark
        if newest is None:
            return
        horizon = newest - self.dedup_window_ms
        order = venue.seen_order
        while order and order[0][0] < horizon:
            _, symbol, trade_id = order.popleft()
            venue.seen[symbol].discard(trade_id)
